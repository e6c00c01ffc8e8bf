"""The analyst's tools: a funnel plot, SPC, CUSUM and EWMA charts, rank intervals and psychometrics from one CSV,
Excel or Parquet file (or a DataFrame), one module per tool.

Each tool reads its input through :mod:`forewarn.tools.inputs` (the one reader of :mod:`forewarn.ingest`),
checks every cell it needs at once (every problem reported together, each naming the row a person sees in a
spreadsheet, the column and the value), arranges the data for the pure statistics in :mod:`forewarn.stats` (all
units or series in one vectorised call) and returns Polars frames and a JSON-ready summary. Nothing here prints
or exits: the ``forewarn`` command (:mod:`forewarn.cli.analyst`) does that, and :mod:`forewarn.api` wraps the same
tools for a notebook. The tools never touch the store.
"""
