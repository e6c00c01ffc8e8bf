"""Account administration for the command line: ``forewarn users create``, ``forewarn users list`` and
``forewarn users two-step-off``."""

from __future__ import annotations

from sqlalchemy import Engine, select

from forewarn.accounts import audit
from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.totp import turn_off, two_step_of
from forewarn.accounts.users import (
    AccountError,
    UserRecord,
    create_user,
    get_user,
    list_users,
    normalise_email,
)
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role, User


def create_account(
    engine: Engine,
    *,
    email: str,
    display_name: str,
    password: str,
    role: Role,
    organisation_code: str | None = None,
    created_by: str = "command line",
    argon2: Argon2Parameters | None = None,
) -> UserRecord:
    """Create an account (a member needs ``organisation_code``); audited. Raises :class:`AccountError`."""
    with engine.begin() as conn:
        organisation_id = None
        if organisation_code:
            found = conn.execute(
                select(Organisation.id).where(Organisation.code == organisation_code.strip())
            ).scalar_one_or_none()
            if found is None:
                raise AccountError(
                    {"organisation_code": f"there is no organisation with the code {organisation_code!r}"}
                )
            organisation_id = int(found)
        try:
            user_id = create_user(
                conn,
                Passwords(argon2),
                email=email,
                display_name=display_name or email.split("@")[0],
                password=password,
                role=role,
                organisation_id=organisation_id,
            )
        except AccountError as exc:
            problems = dict(exc.problems)
            if "organisation_id" in problems:
                problems["organisation_code"] = "a member needs the code of their organisation"
                del problems["organisation_id"]
            raise AccountError(problems) from None
        audit.record(
            conn,
            created_by,
            "create",
            "user",
            user_id,
            channel="cli",
            detail={"email": email, "role": role.value},
        )
        created = get_user(conn, user_id)
    if created is None:  # pragma: no cover - inserted in the transaction above
        raise AccountError({"email": "the account could not be read back"})
    return created


def accounts(engine: Engine) -> list[UserRecord]:
    with engine.connect() as conn:
        return list_users(conn)


def turn_two_step_off(engine: Engine, email: str, *, by: str = "command line") -> bool:
    """Turn off an account's two-step sign-in (its owner lost the device); audited. False if it was not on.
    Raises :class:`AccountError` for an unknown email."""
    with engine.begin() as conn:
        user_id = conn.execute(
            select(User.id).where(User.email == normalise_email(email))
        ).scalar_one_or_none()
        if user_id is None:
            raise AccountError({"email": f"there is no account with the email {email!r}"})
        found = two_step_of(conn, int(user_id))
        if found is None or found.secret is None:
            return False
        turn_off(conn, int(user_id))
        audit.record(
            conn, by, "disable", "two_step", int(user_id), channel="cli", detail={"email": found.email}
        )
    return True
