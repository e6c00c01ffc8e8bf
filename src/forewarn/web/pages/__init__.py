"""The web's side of the pages the read models (:mod:`forewarn.views`) fill: a view the account may not open
turned into a 404, chart specs encoded for the templates, reads kept until the data change, and the surveys'
pages."""
