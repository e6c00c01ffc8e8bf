"""Reports for a board or a regulator, as HTML and PDF (docs/interventions.md, "Reports")."""
