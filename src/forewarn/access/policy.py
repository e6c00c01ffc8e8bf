"""Who may do what, and which organisations each account may see.

- admin: everything.
- analyst (the regulator's analyst): every organisation, named; imports; survey results.
- member (of an organisation): their own organisation, named; and the peers the regulator has granted,
  anonymised (a pseudonym; no name, code, type or region; no page of their own), small groups suppressed.
- survey respondents have no account: a token link lets them answer one survey once.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, insert, select

from forewarn.access.principal import Principal, utc_now
from forewarn.store.models import Organisation
from forewarn.store.models_web import PeerGrant, Role


class Permission(enum.StrEnum):
    VIEW_PORTFOLIO = "view_portfolio"
    VIEW_ALL_ORGANISATIONS = "view_all_organisations"
    FILTER_PORTFOLIO = "filter_portfolio"  # filters would reveal the type and region of anonymised peers
    IMPORT_DATA = "import_data"
    MANAGE_USERS = "manage_users"
    MANAGE_SURVEYS = "manage_surveys"
    VIEW_SURVEY_RESULTS = "view_survey_results"
    VIEW_AUDIT_LOG = "view_audit_log"
    MANAGE_GRANTS = "manage_grants"
    USE_API_TOKENS = "use_api_tokens"


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ANALYST: frozenset(
        {
            Permission.VIEW_PORTFOLIO,
            Permission.VIEW_ALL_ORGANISATIONS,
            Permission.FILTER_PORTFOLIO,
            Permission.IMPORT_DATA,
            Permission.VIEW_SURVEY_RESULTS,
            Permission.USE_API_TOKENS,
        }
    ),
    Role.MEMBER: frozenset(
        {Permission.VIEW_PORTFOLIO, Permission.VIEW_SURVEY_RESULTS, Permission.USE_API_TOKENS}
    ),
}


def allowed(principal: Principal | None, permission: Permission) -> bool:
    return principal is not None and permission in ROLE_PERMISSIONS[principal.role]


@dataclass(frozen=True)
class Visibility:
    """The organisations one account may see. Peers map to pseudonyms; they are never named."""

    all_organisations: bool
    own: int | None = None
    peers: Mapping[int, str] = field(default_factory=dict)

    def may_open(self, organisation_id: int) -> bool:
        """May see this organisation by name, with its own page."""
        return self.all_organisations or organisation_id == self.own

    def may_see(self, organisation_id: int) -> bool:
        """May see this organisation at all (named or anonymised)."""
        return self.may_open(organisation_id) or organisation_id in self.peers

    def is_anonymised(self, organisation_id: int) -> bool:
        return not self.may_open(organisation_id) and organisation_id in self.peers

    def restricted_to(self) -> list[int] | None:
        """The ids a query must be limited to; None means every organisation."""
        if self.all_organisations:
            return None
        ids = list(self.peers)
        if self.own is not None:
            ids.append(self.own)
        return ids


NO_VISIBILITY = Visibility(all_organisations=False)
ALL_ORGANISATIONS = Visibility(all_organisations=True)


def pseudonym_key_of(secret_key: str) -> bytes:
    """The key that orders each viewer's pseudonyms, from the app's secret (the web app and the digest alike)."""
    return hashlib.sha256(b"pseudonyms:" + secret_key.encode("utf-8")).digest()


def _pseudonyms(viewer: int, peer_ids: Iterable[int], key: bytes) -> dict[int, str]:
    # Ordered by a keyed hash, so the numbering follows neither ids, codes nor names and cannot be reversed
    # without the server's secret; stable for the same viewer so "Peer 3" stays "Peer 3" between visits.
    def order(peer: int) -> bytes:
        return hmac.new(key, f"{viewer}:{peer}".encode(), hashlib.sha256).digest()

    return {peer: f"Peer {i}" for i, peer in enumerate(sorted(set(peer_ids), key=order), start=1)}


def visibility(conn: Connection, principal: Principal | None, pseudonym_key: bytes) -> Visibility:
    if principal is None:
        return NO_VISIBILITY
    if allowed(principal, Permission.VIEW_ALL_ORGANISATIONS):
        return ALL_ORGANISATIONS
    own = principal.organisation_id
    if own is None:
        return NO_VISIBILITY
    peer_ids = conn.execute(
        select(PeerGrant.peer_organisation_id).where(
            PeerGrant.organisation_id == own, PeerGrant.peer_organisation_id != own
        )
    ).scalars()
    return Visibility(all_organisations=False, own=own, peers=_pseudonyms(own, peer_ids, pseudonym_key))


@dataclass(frozen=True)
class GrantRecord:
    organisation_id: int
    organisation_name: str
    peer_organisation_id: int
    peer_organisation_name: str
    granted_by: str
    granted_at: dt.datetime


def grant_peers(conn: Connection, organisation_id: int, peer_ids: Iterable[int], granted_by: str) -> int:
    """Let members of ``organisation_id`` see each peer, anonymised. Returns how many grants are new."""
    existing = set(
        conn.execute(
            select(PeerGrant.peer_organisation_id).where(PeerGrant.organisation_id == organisation_id)
        ).scalars()
    )
    wanted = {int(p) for p in peer_ids} - existing - {organisation_id}
    known = (
        set(conn.execute(select(Organisation.id).where(Organisation.id.in_(wanted))).scalars())
        if wanted
        else set()
    )
    if unknown := wanted - known:
        raise ValueError(f"no organisation with id {sorted(unknown)}")
    now = utc_now()
    if known:
        conn.execute(
            insert(PeerGrant),
            [
                {
                    "organisation_id": organisation_id,
                    "peer_organisation_id": p,
                    "granted_by": granted_by,
                    "granted_at": now,
                }
                for p in sorted(known)
            ],
        )
    return len(known)


def revoke_peer(conn: Connection, organisation_id: int, peer_id: int) -> bool:
    return bool(
        conn.execute(
            delete(PeerGrant).where(
                PeerGrant.organisation_id == organisation_id, PeerGrant.peer_organisation_id == peer_id
            )
        ).rowcount
    )


def list_grants(conn: Connection, organisation_id: int | None = None) -> list[GrantRecord]:
    viewer = Organisation.__table__.alias("viewer")
    peer = Organisation.__table__.alias("peer")
    query = (
        select(
            PeerGrant.organisation_id,
            viewer.c.name,
            PeerGrant.peer_organisation_id,
            peer.c.name,
            PeerGrant.granted_by,
            PeerGrant.granted_at,
        )
        .join(viewer, viewer.c.id == PeerGrant.organisation_id)
        .join(peer, peer.c.id == PeerGrant.peer_organisation_id)
        .order_by(viewer.c.name, peer.c.name)
    )
    if organisation_id is not None:
        query = query.where(PeerGrant.organisation_id == organisation_id)
    return [GrantRecord(*row) for row in conn.execute(query).all()]
