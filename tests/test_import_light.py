"""``import forewarn`` stays light: the API's functions load the statistics when first used, and never the web app.

What gets imported is checked in a fresh interpreter (timings are flaky on shared machines; module lists are not).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "scipy",
    "polars",
    "pyarrow",
    "numpy",
    "pandas",
    "altair",
    "sqlalchemy",
}


def loaded_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_forewarn_loads_nothing_heavy() -> None:
    loaded = loaded_after("import forewarn")
    assert not {m.split(".")[0] for m in loaded} & HEAVY
    assert not any(m.startswith(("forewarn.web", "forewarn.api")) for m in loaded)


def test_the_api_loads_when_used_and_never_the_web_app() -> None:
    loaded = loaded_after("import forewarn as fw\nfw.funnel\nfw.psychometrics")
    assert "forewarn.api" in loaded
    assert not {m.split(".")[0] for m in loaded} & {"fastapi", "starlette", "uvicorn"}
    assert not any(m.startswith("forewarn.web") for m in loaded)


def test_unknown_names_are_attribute_errors() -> None:
    import forewarn

    assert {"funnel", "spc", "cusum", "ewma", "ranks", "psychometrics"} <= set(dir(forewarn))
    with pytest.raises(AttributeError, match="nothing_here"):
        forewarn.nothing_here  # type: ignore[attr-defined]  # noqa: B018
