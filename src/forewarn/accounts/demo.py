"""Demo accounts for ``forewarn demo``: one of each role, with passwords printed for the person trying it out.

Development only: the passwords are published in the documentation, so :func:`ensure_demo_users` refuses to
run when the environment is production.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from forewarn.access.policy import grant_peers
from forewarn.accounts.passwords import Passwords
from forewarn.accounts.users import create_user, find_user_by_email, set_password, update_user
from forewarn.store.models import Observation, Organisation
from forewarn.store.models_surveys import SurveyWaveOrganisation
from forewarn.store.models_web import Role


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    role: Role
    display_name: str
    organisation_name: str | None = None


DEMO_PASSWORDS = {
    Role.ADMIN: "demo admin forewarn 1",
    Role.ANALYST: "demo analyst forewarn 2",
    Role.MEMBER: "demo member forewarn 3",
}


def _member_organisation(conn: Connection) -> tuple[int, str, list[int]] | None:
    """The organisation with a type that took part in most survey waves (then has most data), and others of
    its type and dataset as its peers: the member's view then shows soft measures as well as signals."""
    waves = (
        select(SurveyWaveOrganisation.organisation_id, func.count().label("waves"))
        .group_by(SurveyWaveOrganisation.organisation_id)
        .subquery()
    )
    data = (
        select(Observation.organisation_id, func.count().label("points"))
        .group_by(Observation.organisation_id)
        .subquery()
    )
    first = conn.execute(
        select(Organisation.id, Organisation.name, Organisation.type, Organisation.dataset_id)
        .outerjoin(waves, waves.c.organisation_id == Organisation.id)
        .outerjoin(data, data.c.organisation_id == Organisation.id)
        .where(Organisation.type.is_not(None))
        .order_by(
            func.coalesce(waves.c.waves, 0).desc(), func.coalesce(data.c.points, 0).desc(), Organisation.code
        )
        .limit(1)
    ).first()
    if first is None:
        return None
    peers = conn.execute(
        select(Organisation.id)
        .where(
            Organisation.type == first.type,
            Organisation.dataset_id == first.dataset_id,
            Organisation.id != first.id,
        )
        .order_by(Organisation.code)
        .limit(30)
    ).scalars()
    return int(first.id), str(first.name), [int(p) for p in peers]


def ensure_demo_users(conn: Connection, passwords: Passwords, environment: str) -> list[DemoUser]:
    """Create (or reset) the demo accounts; idempotent. The member belongs to the first typed organisation
    and may see up to 30 organisations of its type, anonymised."""
    if environment == "production":
        raise ValueError("demo accounts have published passwords; they are not created in production")
    member_org = _member_organisation(conn)
    wanted = [
        DemoUser("admin@demo.forewarn.test", DEMO_PASSWORDS[Role.ADMIN], Role.ADMIN, "Demo Administrator"),
        DemoUser("analyst@demo.forewarn.test", DEMO_PASSWORDS[Role.ANALYST], Role.ANALYST, "Demo Analyst"),
    ]
    if member_org is not None:
        wanted.append(
            DemoUser(
                "member@demo.forewarn.test",
                DEMO_PASSWORDS[Role.MEMBER],
                Role.MEMBER,
                "Demo Member",
                member_org[1],
            )
        )
    for user in wanted:
        organisation_id = member_org[0] if user.role is Role.MEMBER and member_org else None
        existing = find_user_by_email(conn, user.email)
        if existing is None:
            create_user(
                conn,
                passwords,
                email=user.email,
                display_name=user.display_name,
                password=user.password,
                role=user.role,
                organisation_id=organisation_id,
            )
        else:
            update_user(conn, existing.id, role=user.role, organisation_id=organisation_id, is_active=True)
            if not passwords.verify(user.password, _stored_hash(conn, existing.id))[0]:
                set_password(conn, passwords, existing.id, user.password)
    if member_org is not None:
        grant_peers(conn, member_org[0], member_org[2], granted_by="forewarn demo")
    return wanted


def _stored_hash(conn: Connection, user_id: int) -> str | None:
    from forewarn.store.models_web import User

    found = conn.execute(select(User.password_hash).where(User.id == user_id)).scalar_one_or_none()
    return None if found is None else str(found)
