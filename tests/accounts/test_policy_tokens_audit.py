"""The authorisation policy (which organisations an account sees, and how), API tokens, the audit log,
the demo accounts and the web tables' migration."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, select

from forewarn.access.policy import (
    NO_VISIBILITY,
    Permission,
    Visibility,
    allowed,
    grant_peers,
    list_grants,
    revoke_peer,
    visibility,
)
from forewarn.access.principal import Principal
from forewarn.accounts import audit
from forewarn.accounts.audit import recent_entries, record, record_not_durable
from forewarn.accounts.demo import ensure_demo_users
from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.sessions import digest
from forewarn.accounts.tokens import issue_token, list_tokens, look_up_token, record_token_use, revoke_token
from forewarn.accounts.users import create_user
from forewarn.store import migrate
from forewarn.store.database import read_connection
from forewarn.store.models import Base, Organisation
from forewarn.store.models_web import ApiToken, Role

CHEAP = Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)
KEY = b"k" * 32
WEB_TABLES = {"users", "web_sessions", "login_attempts", "api_tokens", "audit_log", "peer_grants"}


@pytest.fixture
def orgs(engine: Engine) -> list[int]:
    with engine.begin() as conn:
        return [
            conn.execute(
                insert(Organisation)
                .values(code=f"O{i}", name=f"Org {i}", type="t")
                .returning(Organisation.id)
            ).scalar_one()
            for i in range(6)
        ]


def principal(role: Role, organisation_id: int | None = None) -> Principal:
    return Principal(1, "x@example.org", "X", role, organisation_id, "web")


def test_roles_and_permissions() -> None:
    assert allowed(principal(Role.ADMIN), Permission.MANAGE_USERS)
    assert allowed(principal(Role.ANALYST), Permission.IMPORT_DATA)
    assert not allowed(principal(Role.ANALYST), Permission.MANAGE_USERS)
    assert not allowed(principal(Role.MEMBER, 1), Permission.IMPORT_DATA)
    assert not allowed(principal(Role.MEMBER, 1), Permission.FILTER_PORTFOLIO)
    assert not allowed(None, Permission.VIEW_PORTFOLIO)


def test_a_member_sees_their_organisation_and_granted_peers_under_pseudonyms(
    engine: Engine, orgs: list[int]
) -> None:
    own, *others = orgs
    with engine.begin() as conn:
        assert grant_peers(conn, own, [*others[:3], own], "regulator") == 3
        assert grant_peers(conn, own, others[:3], "regulator") == 0  # idempotent
        seen = visibility(conn, principal(Role.MEMBER, own), KEY)
        again = visibility(conn, principal(Role.MEMBER, own), KEY)
        other_key = visibility(conn, principal(Role.MEMBER, own), b"z" * 32)
        analyst = visibility(conn, principal(Role.ANALYST), KEY)
    assert seen.may_open(own) and not seen.may_open(others[0]) and seen.may_see(others[0])
    assert not seen.may_see(others[4]) and seen.is_anonymised(others[1])
    assert sorted(seen.peers.values()) == ["Peer 1", "Peer 2", "Peer 3"]
    assert seen.peers == again.peers  # stable between visits
    assert analyst.all_organisations and analyst.restricted_to() is None
    assert sorted(seen.restricted_to() or []) == sorted([own, *others[:3]])
    # The numbering depends on the server's secret, not on ids (check over many keys that it is not id order).
    orders = set()
    with engine.connect() as conn:
        for k in range(12):
            v = visibility(conn, principal(Role.MEMBER, own), bytes([k]) * 32)
            orders.add(tuple(sorted(v.peers, key=lambda i: v.peers[i])))
    assert len(orders) > 1 and other_key.peers.keys() == seen.peers.keys()


def test_a_member_without_an_organisation_sees_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        assert visibility(conn, principal(Role.MEMBER, None), KEY) == NO_VISIBILITY
    assert Visibility(all_organisations=False).restricted_to() == []


def test_grants_can_be_listed_and_revoked(engine: Engine, orgs: list[int]) -> None:
    with engine.begin() as conn:
        grant_peers(conn, orgs[0], [orgs[1]], "regulator")
        assert [(g.organisation_name, g.peer_organisation_name) for g in list_grants(conn)] == [
            ("Org 0", "Org 1")
        ]
        assert revoke_peer(conn, orgs[0], orgs[1]) and not revoke_peer(conn, orgs[0], orgs[1])
        with pytest.raises(ValueError, match="no organisation"):
            grant_peers(conn, orgs[0], [999999], "regulator")


def test_tokens_are_stored_as_digests_and_stop_when_revoked_or_expired(engine: Engine) -> None:
    with engine.begin() as conn:
        user = create_user(
            conn,
            Passwords(CHEAP),
            email="t@example.org",
            display_name="T",
            password="a long password here",
            role=Role.ANALYST,
        )
        issued = issue_token(conn, user, "nightly")
        expiring = issue_token(conn, user, "short", expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        stored = conn.execute(select(ApiToken.token_hash)).scalars().all()
        assert digest(issued.token) in stored and issued.token not in stored
        principal, use = look_up_token(conn, issued.token)
        assert principal is not None and use is not None  # never used: the lookup asks to record its use
        record_token_use(conn, use)
        assert look_up_token(conn, issued.token)[1] is None  # used a moment ago
        assert look_up_token(conn, expiring.token, now=dt.datetime(2030, 1, 2, tzinfo=dt.UTC)) == (None, None)
        assert not revoke_token(conn, issued.id, owner_id=user + 1)  # someone else's
        assert revoke_token(conn, issued.id, owner_id=user)
        assert look_up_token(conn, issued.token) == (None, None)
        assert look_up_token(conn, "fwt_unknown") == look_up_token(conn, "not-ours") == (None, None)
        assert [t.active for t in list_tokens(conn, user)] == [True, False]
        with pytest.raises(ValueError, match="name"):
            issue_token(conn, user, "  ")


def test_audit_entries_keep_who_what_and_where(engine: Engine) -> None:
    with engine.begin() as conn:
        user = create_user(
            conn,
            Passwords(CHEAP),
            email="x@example.org",
            display_name="X",
            password="a long password here",
            role=Role.ADMIN,
        )
        admin = Principal(user, "x@example.org", "X", Role.ADMIN, None, "web")
        record(conn, admin, "view", "organisation", 7, organisation_id=7, ip="10.0.0.1")
        record(conn, "survey-token", "submit", "survey_response")
        entries = recent_entries(conn)
    assert [(e.actor, e.action, e.object_id, e.channel) for e in entries] == [
        ("survey-token", "submit", None, "web"),
        ("x@example.org", "view", "7", "web"),
    ]
    assert entries[1].ip == "10.0.0.1" and entries[1].organisation_id == 7 and entries[1].user_id == user


def test_a_view_recorded_on_a_read_connection_is_committed_and_only_its_own_commit_is_not_durable(
    engine: Engine,
) -> None:
    """A page view is written and committed on the request's read connection (visible to another connection at
    once); on PostgreSQL its statement runs with ``synchronous_commit`` off (PostgreSQL manual, "Asynchronous
    Commit": set for its own transaction by ``set_config(..., true)``) and the connection's setting is unchanged
    afterwards, so a later change on it is durable."""
    with read_connection(engine) as conn:
        record_not_durable(conn, "anonymous", "view", "organisation", 7, organisation_id=7, channel="api")
        with engine.connect() as other:
            seen = other.execute(select(func.count()).select_from(audit.AuditEntry)).scalar_one()
        assert seen == 1
        if engine.dialect.name == "postgresql":
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
            during = conn.execute(
                audit._INSERT_NOT_DURABLE.returning(func.current_setting("synchronous_commit")),
                {
                    "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    "actor": "a",
                    "action": "view",
                    "object_type": "x",
                    "channel": "web",
                    "user_id": None,
                    "object_id": None,
                    "organisation_id": None,
                    "ip": None,
                    "detail": None,
                },
            ).scalar_one()
            assert during == "off"
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    with engine.connect() as conn:
        entries = recent_entries(conn)
    assert [(e.action, e.object_id, e.organisation_id, e.channel) for e in entries][-1] == (
        "view",
        "7",
        7,
        "api",
    )


def test_demo_users_are_idempotent_and_refused_in_production(engine: Engine, orgs: list[int]) -> None:
    passwords = Passwords(CHEAP)
    with engine.begin() as conn:
        first = ensure_demo_users(conn, passwords, "development")
        second = ensure_demo_users(conn, passwords, "development")
        assert [u.email for u in first] == [u.email for u in second]
        assert {u.role for u in first} == {Role.ADMIN, Role.ANALYST, Role.MEMBER}
        assert len(list_grants(conn, orgs[0])) == 5
        with pytest.raises(ValueError, match="production"):
            ensure_demo_users(conn, passwords, "production")


def test_the_migration_creates_exactly_the_web_tables_of_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    about_web = [d for d in diff if any(t in str(d) for t in WEB_TABLES)]
    assert about_web == []
    migrate.downgrade(engine, "0003")
    with engine.connect() as conn:
        left = set(conn.dialect.get_table_names(conn))
    assert not (WEB_TABLES & left)
    migrate.upgrade(engine)
