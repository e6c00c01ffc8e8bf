"""Pure, vectorised statistics over whole panels of arrays.

Nothing here imports the rest of Forewarn, reads files or keeps global state: each function takes arrays
(series x time, or groups x respondents) and returns a frozen dataclass of arrays.
"""
