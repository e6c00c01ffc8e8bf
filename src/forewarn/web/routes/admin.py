"""Administration: accounts, the peers each organisation may see, and the audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.policy import Permission, grant_peers, list_grants, revoke_peer
from forewarn.access.principal import Principal, utc_now
from forewarn.accounts.audit import recent_entries
from forewarn.accounts.users import (
    AccountError,
    UserRecord,
    create_user,
    get_user,
    list_users,
    set_password,
    update_user,
)
from forewarn.store.models_web import Role
from forewarn.views.lookup import organisation_id_by_code
from forewarn.web.deps import AppState, ReadConnection, WriteConnection, record, record_view, require
from forewarn.web.errors import ForbiddenError, NotFoundError
from forewarn.web.forms import GrantForm, NewUserForm, PasswordResetForm, UserChangeForm, codes
from forewarn.web.rendering import render
from forewarn.web.schemas import (
    AuditLogOut,
    AuditOut,
    GrantCreate,
    GrantOut,
    GrantsOut,
    UserCreate,
    UserOut,
    UsersOut,
    UserUpdate,
)
from forewarn.web.state import WebState

router = APIRouter()


class PasswordConfirmationNeeded(ForbiddenError):
    """A role, organisation or peer-access change without the password entered recently (pages: confirm it)."""

    title = "Confirm your password"


def require_recent_password(state: WebState, principal: Principal) -> None:
    """Refuse a change of who may see what unless this browser session entered its password within
    ``options.reauth``: a stolen session cookie or API token alone cannot make someone an administrator."""
    if principal.session_id is None:
        raise PasswordConfirmationNeeded(
            "Role, organisation and peer-access changes need a browser session in which you confirm your "
            "password; an API token alone is not enough."
        )
    if not principal.entered_password_since(utc_now() - state.options.reauth):
        minutes = int(state.options.reauth.total_seconds() // 60)
        raise PasswordConfirmationNeeded(
            f"Role, organisation and peer-access changes need your password entered in the last {minutes} "
            "minutes: confirm your password at /account/confirm-password, then try again."
        )


def confirm_first(then: str) -> Response:
    return RedirectResponse(f"/account/confirm-password?next={quote(then, safe='')}", status_code=303)


Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
Auditor = Annotated[Principal, Depends(require(Permission.VIEW_AUDIT_LOG))]
GrantManager = Annotated[Principal, Depends(require(Permission.MANAGE_GRANTS))]
ROLE_LABELS = {"admin": "Administrator", "analyst": "Regulator analyst", "member": "Organisation member"}


def user_out(u: UserRecord) -> UserOut:
    return UserOut(
        id=u.id,
        email=u.email,
        display_name=u.display_name,
        role=u.role.value,
        organisation_id=u.organisation_id,
        organisation_name=u.organisation_name,
        is_active=u.is_active,
        created_at=u.created_at,
        last_login_at=u.last_login_at,
    )


def _organisation(conn: Connection, code: str | None) -> tuple[int | None, dict[str, str]]:
    if not code:
        return None, {}
    found = organisation_id_by_code(conn, code)
    if found is None:
        return None, {"organisation_code": "There is no organisation with this code"}
    return found, {}


def _create(
    state: WebState, conn: Connection, request: Request, principal: Principal, body: UserCreate
) -> UserOut:
    if Role(body.role) is not Role.MEMBER:
        require_recent_password(state, principal)
    organisation_id, problems = _organisation(conn, body.organisation_code)
    if problems:
        raise AccountError(problems)
    user_id = create_user(
        conn,
        state.passwords,
        email=body.email,
        display_name=body.display_name,
        password=body.password,
        role=Role(body.role),
        organisation_id=organisation_id,
    )
    created = get_user(conn, user_id)
    assert created is not None
    record(
        conn,
        request,
        principal,
        "create",
        "user",
        user_id,
        detail={"email": created.email, "role": body.role},
    )
    return user_out(created)


def _update(
    state: WebState, conn: Connection, request: Request, principal: Principal, user_id: int, body: UserUpdate
) -> UserOut:
    organisation_id, problems = _organisation(conn, body.organisation_code)
    if problems:
        raise AccountError(problems)
    current = get_user(conn, user_id)
    if current is None:
        raise NotFoundError("There is no account with this number.")
    if current.role is not Role(body.role) or current.organisation_id != organisation_id:
        require_recent_password(state, principal)
    update_user(
        conn,
        user_id,
        role=Role(body.role),
        organisation_id=organisation_id,
        is_active=body.is_active,
        display_name=body.display_name,
    )
    updated = get_user(conn, user_id)
    assert updated is not None
    record(
        conn,
        request,
        principal,
        "update",
        "user",
        user_id,
        detail={"role": body.role, "active": body.is_active},
    )
    return user_out(updated)


# -- pages -------------------------------------------------------------------------------------------------------


@router.get("/users", include_in_schema=False)
def users_page(request: Request, state: AppState, principal: Admin, conn: ReadConnection) -> Response:
    users = [user_out(u) for u in list_users(conn)]
    record_view(state, conn, request, principal, "users")
    return render(request, "users.html", {"title": "Users", "users": users, "roles": ROLE_LABELS})


@router.get("/users/new", include_in_schema=False)
def new_user_page(request: Request, principal: Admin) -> Response:
    return render(request, "user_new.html", {"title": "Add a user", "roles": ROLE_LABELS, "values": {}})


@router.post("/users", include_in_schema=False)
def create_user_form(
    request: Request,
    state: AppState,
    principal: Admin,
    form: Annotated[NewUserForm, Form()],
    conn: WriteConnection,
) -> Response:
    values = form.model_dump(include={"email", "display_name", "role", "organisation_code"})
    errors: dict[str, str] = {}
    if form.role not in ROLE_LABELS:
        errors["role"] = "Select the user's role"
    if not errors:
        try:
            _create(
                state,
                conn,
                request,
                principal,
                UserCreate(
                    email=form.email[:320],
                    display_name=form.display_name[:200],
                    password=form.password[:256],
                    role=form.role,
                    organisation_code=form.organisation_code or None,
                ),
            )
            return RedirectResponse("/users?notice=user-created", status_code=303)
        except PasswordConfirmationNeeded:
            return confirm_first("/users/new")
        except AccountError as exc:
            errors = exc.problems
    return render(
        request,
        "user_new.html",
        {"title": "Add a user", "roles": ROLE_LABELS, "values": values, "errors": errors},
        status_code=400,
    )


@router.get("/users/{user_id}", include_in_schema=False)
def user_page(request: Request, principal: Admin, user_id: int, conn: ReadConnection) -> Response:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFoundError("There is no account with this number.")
    return render(
        request,
        "user_edit.html",
        {"title": f"Change {user.display_name}", "user": user_out(user), "roles": ROLE_LABELS, "values": {}},
    )


@router.post("/users/{user_id}", include_in_schema=False)
def update_user_form(
    request: Request,
    state: AppState,
    principal: Admin,
    user_id: int,
    form: Annotated[UserChangeForm, Form()],
    conn: WriteConnection,
) -> Response:
    role, code = form.role, form.organisation_code
    errors: dict[str, str] = {}
    if role not in ROLE_LABELS:
        errors["role"] = "Select the user's role"
    else:
        try:
            _update(
                state,
                conn,
                request,
                principal,
                user_id,
                UserUpdate(role=role, organisation_code=code or None, is_active=form.is_active == "yes"),
            )
            return RedirectResponse("/users?notice=user-updated", status_code=303)
        except PasswordConfirmationNeeded:
            return confirm_first(f"/users/{user_id}")
        except AccountError as exc:
            errors = exc.problems
    user = get_user(conn, user_id)
    if user is None:
        raise NotFoundError("There is no account with this number.")
    return render(
        request,
        "user_edit.html",
        {
            "title": f"Change {user.display_name}",
            "user": user_out(user),
            "roles": ROLE_LABELS,
            "errors": errors,
            "values": {"organisation_code": code},
        },
        status_code=400,
    )


@router.post("/users/{user_id}/password", include_in_schema=False)
def reset_password_form(
    request: Request,
    state: AppState,
    principal: Admin,
    user_id: int,
    form: Annotated[PasswordResetForm, Form()],
    conn: WriteConnection,
) -> Response:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFoundError("There is no account with this number.")
    try:
        set_password(conn, state.passwords, user_id, form.password)
    except AccountError as exc:
        return render(
            request,
            "user_edit.html",
            {
                "title": f"Change {user.display_name}",
                "user": user_out(user),
                "roles": ROLE_LABELS,
                "errors": {"password": exc.problems.get("password", str(exc))},
                "values": {},
            },
            status_code=400,
        )
    record(conn, request, principal, "update", "password", user_id)
    return RedirectResponse("/users?notice=password-changed", status_code=303)


@router.get("/peers", include_in_schema=False)
def grants_page(
    request: Request,
    state: AppState,
    principal: GrantManager,
    conn: ReadConnection,
    organisation: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    organisation_id = organisation_id_by_code(conn, organisation) if organisation else None
    grants = list_grants(conn, organisation_id)
    return render(request, "grants.html", {"title": "Peer access", "grants": grants, "values": {}})


@router.post("/peers", include_in_schema=False)
def grant_form(
    request: Request,
    state: AppState,
    principal: GrantManager,
    form: Annotated[GrantForm, Form()],
    conn: WriteConnection,
) -> Response:
    code, peers = form.organisation_code, codes(form.peer_codes)
    try:
        require_recent_password(state, principal)
    except PasswordConfirmationNeeded:
        return confirm_first("/peers")
    errors = _grant(conn, request, principal, code, peers)
    if not errors:
        return RedirectResponse("/peers?notice=grants-updated", status_code=303)
    grants = list_grants(conn)
    return render(
        request,
        "grants.html",
        {
            "title": "Peer access",
            "grants": grants,
            "errors": errors,
            "values": {"organisation_code": code, "peer_codes": "\n".join(peers)},
        },
        status_code=400,
    )


@router.post("/peers/{organisation_id}/{peer_id}/revoke", include_in_schema=False)
def revoke_grant_form(
    request: Request,
    state: AppState,
    principal: GrantManager,
    organisation_id: int,
    peer_id: int,
    conn: WriteConnection,
) -> Response:
    try:
        require_recent_password(state, principal)
    except PasswordConfirmationNeeded:
        return confirm_first("/peers")
    done = revoke_peer(conn, organisation_id, peer_id)
    if not done:
        raise NotFoundError("There is no such peer access.")
    record(
        conn,
        request,
        principal,
        "delete",
        "peer_grant",
        f"{organisation_id}:{peer_id}",
        organisation_id=organisation_id,
    )
    return RedirectResponse("/peers?notice=grants-updated", status_code=303)


def _grant(
    conn: Connection, request: Request, principal: Principal, organisation_code: str, peer_codes: list[str]
) -> dict[str, str]:
    """Let one organisation's members see these peers; the problem of each field when it cannot be done (a form
    may send no code at all, so these are plain values, not a validated :class:`GrantCreate`)."""
    errors: dict[str, str] = {}
    organisation_id = organisation_id_by_code(conn, organisation_code) if organisation_code else None
    peer_ids = {c: organisation_id_by_code(conn, c) for c in peer_codes}
    if organisation_id is None:
        errors["organisation_code"] = "Enter the code of an organisation in the store"
    unknown = [c for c, i in peer_ids.items() if i is None]
    if not peer_codes:
        errors["peer_codes"] = "Enter the codes of the peers this organisation may see"
    elif unknown:
        errors["peer_codes"] = f"There is no organisation with the code {', '.join(unknown[:5])}"
    if errors or organisation_id is None:
        return errors
    added = grant_peers(
        conn, organisation_id, [i for i in peer_ids.values() if i is not None], principal.email
    )
    record(
        conn,
        request,
        principal,
        "create",
        "peer_grant",
        organisation_id,
        organisation_id=organisation_id,
        detail={"added": added},
    )
    return {}


@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request,
    state: AppState,
    principal: Auditor,
    conn: ReadConnection,
    action: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    entries = recent_entries(conn, limit=300, action=action or None)
    return render(request, "audit.html", {"title": "Audit log", "entries": entries, "action": action or ""})


# -- API ---------------------------------------------------------------------------------------------------------


@router.get("/api/v1/users", response_model=UsersOut, tags=["administration"])
def users_api(request: Request, state: AppState, principal: Admin, conn: ReadConnection) -> UsersOut:
    """Every account (administrators only)."""
    users = [user_out(u) for u in list_users(conn)]
    record_view(state, conn, request, principal, "users")
    return UsersOut(users=users)


@router.post("/api/v1/users", response_model=UserOut, status_code=201, tags=["administration"])
def create_user_api(
    request: Request, state: AppState, principal: Admin, body: UserCreate, conn: WriteConnection
) -> UserOut:
    """Create an account. 422 with the problem of each field when it cannot be created."""
    return _create(state, conn, request, principal, body)


@router.get("/api/v1/users/{user_id}", response_model=UserOut, tags=["administration"])
def user_api(principal: Admin, user_id: int, conn: ReadConnection) -> UserOut:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFoundError("There is no account with this number.")
    return user_out(user)


@router.put("/api/v1/users/{user_id}", response_model=UserOut, tags=["administration"])
def update_user_api(
    request: Request, state: AppState, principal: Admin, user_id: int, body: UserUpdate, conn: WriteConnection
) -> UserOut:
    """Change an account's role, organisation or status (its sessions end when any of these change). A role or
    organisation change needs the password entered recently, in a browser session: a token alone is refused."""
    return _update(state, conn, request, principal, user_id, body)


@router.get("/api/v1/peers", response_model=GrantsOut, tags=["administration"])
def grants_api(principal: GrantManager, conn: ReadConnection) -> GrantsOut:
    """Which organisations' members may see which peers (anonymised)."""
    return _grants_out(conn)


def _grants_out(conn: Connection) -> GrantsOut:
    return GrantsOut(grants=[GrantOut(**g.__dict__) for g in list_grants(conn)])


@router.post("/api/v1/peers", response_model=GrantsOut, status_code=201, tags=["administration"])
def grant_api(
    request: Request, state: AppState, principal: GrantManager, body: GrantCreate, conn: WriteConnection
) -> GrantsOut:
    """Let members of one organisation see these peers, anonymised (needs the password entered recently, in a
    browser session)."""
    require_recent_password(state, principal)
    errors = _grant(conn, request, principal, body.organisation_code, body.peer_codes)
    if errors:
        raise AccountError(errors)
    return _grants_out(conn)


@router.get("/api/v1/audit", response_model=AuditLogOut, tags=["administration"])
def audit_api(
    principal: Auditor,
    conn: ReadConnection,
    action: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> AuditLogOut:
    """The latest audit entries, newest first."""
    entries = recent_entries(conn, limit=limit, action=action or None)
    return AuditLogOut(
        entries=[AuditOut(**{k: v for k, v in e.__dict__.items() if k != "user_id"}) for e in entries]
    )
