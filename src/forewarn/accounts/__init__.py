"""Accounts and who may see what: users and roles, Argon2 passwords, sessions stored in the database, login
throttling, API tokens, the audit log, and the authorisation policy with the reads it scopes.

A service package: it knows nothing of HTTP. The web app and the command line call it with a connection.
"""

from forewarn.accounts.policy import Permission, Visibility, allowed, visibility
from forewarn.accounts.principal import Principal
from forewarn.store.models_web import Role

__all__ = ["Permission", "Principal", "Role", "Visibility", "allowed", "visibility"]
