"""Builders: each fills one page's pydantic model from the services, for both the HTML page and its JSON."""
