"""The web app's commands for ``forewarn``: ``serve``, ``users create`` and ``users list``, and the end of
``forewarn demo``. ``forewarn.cli`` registers them (this module only defines them)."""

from __future__ import annotations

import getpass
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from forewarn.accounts.admin import accounts, create_account, turn_two_step_off
from forewarn.accounts.users import AccountError
from forewarn.cli.store import migrated_engine
from forewarn.settings import Settings, get_settings
from forewarn.store.models_web import Role
from forewarn.web.server import create_demo_users, serve, sign_in_instructions

users_app = typer.Typer(help="Accounts of the web app.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


class UserRole(StrEnum):
    admin = "admin"
    analyst = "analyst"
    member = "member"


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: FOREWARN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: FOREWARN_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each with its own caches).")] = 1,
) -> None:
    """Serve the web app (migrating the store first) until Ctrl+C."""
    serve(get_settings(), host=host, port=port, workers=workers)


@users_app.command("create")
def users_create_command(
    email: Annotated[str, typer.Argument(help="Email address: the name the person signs in with.")],
    role: Annotated[UserRole, typer.Option("--role", help="admin, analyst or member.")],
    name: Annotated[str, typer.Option("--name", help="The person's name (default: from the email).")] = "",
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="Code of the member's organisation.")
    ] = None,
    password: Annotated[
        str | None, typer.Option(envvar="FOREWARN_NEW_PASSWORD", help="Omit to be asked for it (not echoed).")
    ] = None,
) -> None:
    """Create an account for the web app (a password of 12 characters or more)."""
    engine = migrated_engine()
    secret = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_account(
            engine,
            email=email,
            display_name=name,
            password=secret,
            role=Role(role.value),
            organisation_code=organisation,
            created_by=f"cli:{getpass.getuser()}",
        )
    except AccountError as exc:
        for field, problem in exc.problems.items():
            err.print(f"error: {field}: {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    where = f" of {user.organisation_name}" if user.organisation_name else ""
    err.print(f"created {user.role.value} {user.email}{where}", highlight=False, markup=False)


@users_app.command("list")
def users_list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON on stdout.")] = False,
) -> None:
    """Every account of the web app (never a password or token)."""
    found = accounts(migrated_engine())
    if as_json:
        sys.stdout.write(json.dumps([u.__dict__ for u in found], indent=2, default=str) + "\n")
        return
    table = Table(title="Accounts")
    for column in ("email", "name", "role", "organisation", "active", "last sign-in"):
        table.add_column(column)
    for u in found:
        table.add_row(
            u.email,
            u.display_name,
            u.role.value,
            u.organisation_name or "-",
            "yes" if u.is_active else "no",
            str(u.last_login_at or "-"),
        )
    Console(soft_wrap=True).print(table)


@users_app.command("two-step-off")
def users_two_step_off_command(
    email: Annotated[str, typer.Argument(help="Email address of the account.")],
) -> None:
    """Turn off an account's two-step sign-in, when its owner has lost the device with the authenticator app."""
    try:
        done = turn_two_step_off(migrated_engine(), email, by=f"cli:{getpass.getuser()}")
    except AccountError as exc:
        for field, problem in exc.problems.items():
            err.print(f"error: {field}: {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    err.print(
        f"two-step sign-in turned off for {email}" if done else f"two-step sign-in was not on for {email}",
        highlight=False,
        markup=False,
    )


def finish_demo(settings: Settings, engine: Engine, *, serving: bool) -> None:
    """The end of ``forewarn demo``: demo accounts, how to sign in as each, and (unless ``--no-serve``) serve."""
    users = create_demo_users(engine, settings)
    url = f"http://{settings.host}:{settings.port}"
    err.print(sign_in_instructions(users, url, serving=serving), highlight=False, markup=False)
    if serving:
        serve(settings)
