"""`forewarn` starts fast: importing the command line, and asking it for help, loads Typer and Rich but none of
the heavy libraries the commands use (they are imported by each command when it runs).

Nothing here is timed (timings are flaky on shared machines); what is checked is what gets imported, in a fresh
interpreter each time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forewarn import cli

HEAVY = {"fastapi", "uvicorn", "scipy", "polars", "pyarrow", "numpy", "alembic", "sqlalchemy"}
"""Top-level packages that `import forewarn.cli` and `forewarn --help` must not load. (Typer itself loads
pydantic once it parses a command line, so only the bare import is checked for that one.)"""

COMMANDS = [
    "funnel",
    "spc",
    "cusum",
    "ranks",
    "psychometrics",
    "import",
    "export",
    "datasets",
    "scan",
    "simulate",
    "demo",
    "survey",
    "db",
    "serve",
    "users",
]


def python(code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_cli_loads_no_heavy_library() -> None:
    out = python(
        f"""
        import forewarn.cli, sys
        print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY | {"pydantic"})!r}))
        """
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["funnel", "--help"], ["survey", "--help"], ["db", "--help"]])
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    out = python(
        f"""
        import contextlib, io, json, sys
        from forewarn.cli import app
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                app({args!r}, prog_name="forewarn")
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r}))))
        """
    )
    assert json.loads(out) == []


def forewarn_command() -> list[str]:
    script = Path(sys.executable).parent / "forewarn"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from forewarn.cli import app; app(prog_name='forewarn')"]


def test_forewarn_help_lists_every_command() -> None:
    done = subprocess.run(
        [*forewarn_command(), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: forewarn" in done.stdout
    listed = [line.strip("│ ").split(" ")[0] for line in done.stdout.splitlines() if line.startswith("│ ")]
    for command in COMMANDS:
        assert command in listed, (command, done.stdout)
    assert "Serve the web app" in done.stdout
    assert "Accounts of the web app." in done.stdout


def test_datasets_loads_the_store_but_not_the_web_app_or_the_statistics(tmp_path: Path) -> None:
    env = {**os.environ, "FOREWARN_DATA_DIR": str(tmp_path / "var")}
    env.pop("FOREWARN_DATABASE_URL", None)
    out = python(
        """
        import contextlib, io, json, sys
        from forewarn.cli import app
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                app(["datasets"], prog_name="forewarn")
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
        """,
        env=env,
        cwd=tmp_path,
    )
    loaded = set(json.loads(out))
    assert "sqlalchemy" in loaded  # it did read the store
    assert not loaded & {"fastapi", "uvicorn", "scipy", "numpy", "pyarrow"}


@pytest.mark.parametrize("name", list(cli.LAZY_COMMANDS))
def test_lazy_commands_are_listed_with_their_own_help(name: str) -> None:
    """The one-line help shown by `forewarn --help` for a command imported only when used is the command's."""
    group = cli.typer.main.get_command(cli.app)
    ctx = group.make_context("forewarn", [name])
    listed = group.get_command(ctx, name)
    assert isinstance(listed, cli._LazyCommand)
    real = listed.load()
    assert (real.help or "").strip().splitlines()[0] == cli.LAZY_COMMANDS[name][1]


@pytest.mark.parametrize(
    ("args", "fragment"), [(["serve", "--help"], "--workers"), (["users", "--help"], "create")]
)
def test_lazy_commands_load_when_used(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(cli.app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert fragment in result.stdout
