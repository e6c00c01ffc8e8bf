"""Accounts: create, change, list. Emails are stored lower-cased; every member belongs to an organisation."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from forewarn.access.principal import utc_now
from forewarn.accounts.passwords import Passwords, password_problems
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role, User, WebSession

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A request to create or change an account that cannot be met; ``problems`` maps field to message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    display_name: str
    role: Role
    organisation_id: int | None
    organisation_name: str | None
    is_active: bool
    created_at: dt.datetime | None
    last_login_at: dt.datetime | None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _organisation_exists(conn: Connection, organisation_id: int) -> bool:
    return conn.execute(select(Organisation.id).where(Organisation.id == organisation_id)).first() is not None


def _check_role_and_organisation(conn: Connection, role: Role, organisation_id: int | None) -> dict[str, str]:
    if role is Role.MEMBER and organisation_id is None:
        return {"organisation_id": "Select the organisation this member belongs to"}
    if organisation_id is not None and not _organisation_exists(conn, organisation_id):
        return {"organisation_id": "Select an organisation from the list"}
    return {}


def create_user(
    conn: Connection,
    passwords: Passwords,
    *,
    email: str,
    display_name: str,
    password: str,
    role: Role,
    organisation_id: int | None = None,
) -> int:
    """Create an account; raises :class:`AccountError` naming each field that is wrong."""
    email = normalise_email(email)
    problems: dict[str, str] = {}
    if not _EMAIL.match(email):
        problems["email"] = "Enter an email address in the correct format, like name@example.org"
    elif conn.execute(select(User.id).where(User.email == email)).first() is not None:
        problems["email"] = "An account with this email address already exists"
    if not display_name.strip():
        problems["display_name"] = "Enter the person's name"
    if issues := password_problems(password, email, display_name):
        problems["password"] = issues[0]
    problems.update(_check_role_and_organisation(conn, role, organisation_id))
    if problems:
        raise AccountError(problems)
    now = utc_now()
    return int(
        conn.execute(
            insert(User)
            .values(
                email=email,
                display_name=display_name.strip(),
                password_hash=passwords.hash(password),
                role=role,
                organisation_id=organisation_id,
                is_active=True,
                created_at=now,
                password_changed_at=now,
            )
            .returning(User.id)
        ).scalar_one()
    )


def update_user(
    conn: Connection,
    user_id: int,
    *,
    role: Role,
    organisation_id: int | None,
    is_active: bool,
    display_name: str | None = None,
) -> None:
    """Change an account's role, organisation or status. Disabling an account or changing its role ends its
    sessions and revokes nothing else (its API tokens stop working while it is disabled)."""
    current = get_user(conn, user_id)
    if current is None:
        raise AccountError({"user": "No such account"})
    problems = _check_role_and_organisation(conn, role, organisation_id)
    if display_name is not None and not display_name.strip():
        problems["display_name"] = "Enter the person's name"
    if current.role is Role.ADMIN and (role is not Role.ADMIN or not is_active) and _active_admins(conn) <= 1:
        problems["role"] = "This is the last active administrator; make someone else an administrator first"
    if problems:
        raise AccountError(problems)
    values: dict[str, object] = {"role": role, "organisation_id": organisation_id, "is_active": is_active}
    if display_name is not None:
        values["display_name"] = display_name.strip()
    conn.execute(update(User).where(User.id == user_id).values(**values))
    if role is not current.role or not is_active or organisation_id != current.organisation_id:
        conn.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _active_admins(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.is_active.is_(True))
        ).scalar_one()
    )


def set_password(conn: Connection, passwords: Passwords, user_id: int, password: str) -> None:
    """Set a new password and end every session of the account."""
    user = get_user(conn, user_id)
    if user is None:
        raise AccountError({"user": "No such account"})
    if issues := password_problems(password, user.email, user.display_name):
        raise AccountError({"password": issues[0]})
    conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=passwords.hash(password), password_changed_at=utc_now())
    )
    conn.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _records(conn: Connection, *where: object) -> list[UserRecord]:
    query = (
        select(
            User.id,
            User.email,
            User.display_name,
            User.role,
            User.organisation_id,
            Organisation.name,
            User.is_active,
            User.created_at,
            User.last_login_at,
        )
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .where(*where)  # type: ignore[arg-type]
        .order_by(User.email)
    )
    return [UserRecord(*row) for row in conn.execute(query).all()]


def list_users(conn: Connection) -> list[UserRecord]:
    return _records(conn)


def get_user(conn: Connection, user_id: int) -> UserRecord | None:
    found = _records(conn, User.id == user_id)
    return found[0] if found else None


def find_user_by_email(conn: Connection, email: str) -> UserRecord | None:
    found = _records(conn, User.email == normalise_email(email))
    return found[0] if found else None
