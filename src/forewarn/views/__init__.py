"""Read models that the pages and the JSON API share: what an account may read, in the shape it is served.

Each view takes a connection and the account's :class:`~forewarn.access.policy.Visibility` and returns the
pydantic model the API serves and the templates render, built once, by name. Views know nothing of HTTP.
"""
