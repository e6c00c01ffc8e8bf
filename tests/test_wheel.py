"""The wheel a user installs works on its own: built from the tree, installed into a clean virtual environment
with the locked dependencies (``pip install --require-hashes -r requirements.lock``, then the wheel with
``--no-deps``), it carries the web app's assets, the migrations and the instruments, runs the analyst's API on the
bundled data with the command line's numbers, and answers ``forewarn --help``.

Slow (a build and a virtual environment: with uv's cache about a minute, with pip's several); needs the package registry for the build
backend and any dependency pip has not cached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMOKE = """
import json, sys
import forewarn as fw, pandas as pd
ae = pd.read_csv(sys.argv[1], dtype={"type": str})
major = ae[ae["type"] == "1"]
funnel = fw.funnel(major, unit_col="org_code", numerator_col="breaches", denominator_col="attendances",
                   data_type="PR")
spc = fw.spc(major, period_col="period", value_col="attendances", series_col="org_code")
lq = pd.read_csv(sys.argv[2])
psy = fw.psychometrics(lq, group_col="COMPID", items=[f"LEAD{i:02d}" for i in range(1, 12)], resamples=0)
funnel.chart().save(sys.argv[3])
print(json.dumps({"file": fw.__file__, "phi": funnel.summary["phi"], "outliers": funnel.summary["outliers"],
                  "variation": spc.summary["variation"], "icc1": psy.summary["icc1"]}))
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FOREWARN_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=900, cwd=cwd, env=env, check=False
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_installs_in_a_clean_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("forewarn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "forewarn/web/templates/base.html",
        "forewarn/web/static/vendor/vega/vega-lite-6.4.1.min.js",
        "forewarn/store/migrations/env.py",
        "forewarn/surveys/instruments/forewarn_lc_v1.yml",
        "forewarn/api.py",
        "forewarn/cli/__init__.py",
        "forewarn/tools/funnel.py",
        "forewarn/py.typed",
    ):
        assert needed in names, needed
    assert any(n.startswith("forewarn/store/migrations/versions/") for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, pip = (
        venv / "bin" / "python",
        [venv / "bin" / "python", "-m", "pip", "--quiet", "--disable-pip-version-check"],
    )
    run(*pip, "install", "--require-hashes", "-r", ROOT / "requirements.lock")
    run(*pip, "install", "--no-deps", wheel)

    svg = tmp_path / "funnel.svg"
    out = run(
        python, "-c", textwrap.dedent(SMOKE),
        ROOT / "data" / "nhs_ae" / "nhs_ae_attendances.csv",
        ROOT / "tests" / "fixtures" / "psychometrics" / "lq2002.csv",
        svg,
        cwd=tmp_path,
    )  # fmt: skip
    figures = json.loads(out.splitlines()[-1])
    assert figures["file"].startswith(str(venv)), "imported the checkout, not the wheel"
    assert svg.read_text().startswith("<svg")

    # The same numbers as the checkout's API (which tests/test_api.py holds to the command line's).
    import pandas as pd

    import forewarn as fw

    ae = pd.read_csv(ROOT / "data" / "nhs_ae" / "nhs_ae_attendances.csv", dtype={"type": str})
    major = ae[ae["type"] == "1"]
    here = fw.funnel(
        major, unit_col="org_code", numerator_col="breaches", denominator_col="attendances", data_type="PR"
    )
    assert figures["phi"] == here.summary["phi"] and figures["outliers"] == here.summary["outliers"]
    assert figures["icc1"] == pytest.approx(0.0879562185216011, abs=1e-9)  # R multilevel::ICC1

    helped = run(venv / "bin" / "forewarn", "--help", cwd=tmp_path)
    assert "Usage: forewarn" in helped and "funnel" in helped
