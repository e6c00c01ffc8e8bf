"""Property-based tests of the JSON API from its own OpenAPI description (schemathesis, in process over ASGI):
every operation, as an administrator with an API token, with a bounded number of generated requests each; no
answer may be a server error, and every answer must be one the description documents (issue 16).

Marked ``slow`` (about a minute); it runs in ``make test`` like every other test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import create_engine, text

from forewarn.settings import Settings
from forewarn.store import migrate
from forewarn.store.database import make_engine
from tests.conftest import POSTGRES_ADMIN_URL, test_database_kind
from tests.web.conftest import bearer_for, make_app
from tests.web.world import World, build_world

MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """One app over one populated store for the whole module: examples are many, set-up is costly."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    admin = None
    if test_database_kind() == "postgresql":
        name = f"forewarn_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'forewarn.db'}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        world: World = build_world(engine)
        settings_ = Settings(  # type: ignore[call-arg]
            _env_file=None, environment="test", data_dir=tmp_path, database_url=url, secret_key="s" * 40
        )
        yield (
            make_app(settings_, engine, tmp_path, audit_views=False),
            bearer_for(engine, world.users["admin"]),
        )
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
def test_the_api_answers_as_its_description_says(api: tuple[FastAPI, str]) -> None:
    app, token = api
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )

        try:
            run()
        except Exception as exc:
            inner = exc.exceptions[-1] if isinstance(exc, BaseExceptionGroup) else exc
            while isinstance(inner, BaseExceptionGroup):
                inner = inner.exceptions[-1]
            failures.append(f"{operation.label}: {type(inner).__name__}: {str(inner)[:600]}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
