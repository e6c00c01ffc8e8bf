"""The practice library: notes, case studies, experiment results and documents, with the organisations and
indicators they concern (:mod:`.documents`), imported from a folder (:mod:`.folder`) and searched in full text on
SQLite and PostgreSQL alike (:mod:`.search`)."""
