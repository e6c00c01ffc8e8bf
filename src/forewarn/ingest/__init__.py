"""Readers for CSV, Excel and Parquet extracts, mapping files, validation reports and the importer."""
