"""Account administration for the command line: ``forewarn users create`` and ``forewarn users list``."""

from __future__ import annotations

from sqlalchemy import Engine, select

from forewarn.accounts import audit
from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.users import AccountError, UserRecord, create_user, get_user, list_users
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role


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
