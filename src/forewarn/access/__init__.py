"""Who may see what: the principal making a request, the permissions of each role, which organisations a
principal may see (and under which names), and the peer grants behind that. Below every service: surveillance,
surveys, views and the web ask here, and nothing here knows of them."""

from forewarn.access.policy import Permission, Visibility, allowed, visibility
from forewarn.access.principal import Principal

__all__ = ["Permission", "Principal", "Visibility", "allowed", "visibility"]
