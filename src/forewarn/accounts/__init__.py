"""Accounts: users and roles, Argon2 passwords, sessions stored in the database, login throttling, API tokens
and the audit log. Who may see what is :mod:`forewarn.access`.

A service package: it knows nothing of HTTP. The web app and the command line call it with a connection.
"""
