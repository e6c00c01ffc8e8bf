"""Files uploaded through the web wait in their own folder only while they can still be confirmed: a rejected
upload (problems in the file, an unusable mapping, a file already imported) is deleted at once (issue 16), and
uploads nobody confirmed are purged once expired."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine

from forewarn.ingest.uploads import purge_expired
from tests.web.conftest import SignedIn, app, web_settings, world  # noqa: F401 (fixtures)
from tests.web.world import World

MAPPING = Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "mapping.yml"
HEADER = "period,org_code,org_name,attendances,breaches\n"


def upload(web: FastAPI, engine: Engine, people: World, data: str, mapping: bytes) -> dict[str, object]:
    analyst = SignedIn(web, engine, people.users["analyst"])
    response = analyst.client.post(
        "/api/v1/imports",
        files={"data_file": ("f.csv", data.encode(), "text/csv"), "mapping_file": ("m.yml", mapping)},
        headers=analyst.headers(),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def waiting(tmp_path: Path) -> list[str]:
    folder = tmp_path / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_rejected_uploads_are_deleted_and_good_ones_wait(
    app: FastAPI,  # noqa: F811
    engine: Engine,
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    bad = upload(app, engine, world, HEADER + "2020-01-01,AAA,A,ten,1\n", MAPPING.read_bytes())
    assert not bad["ok"] and waiting(tmp_path) == []
    unusable = upload(app, engine, world, HEADER + "2020-01-01,AAA,A,10,1\n", b"version: 1\n")
    assert unusable["mapping_problems"] and waiting(tmp_path) == []
    good = upload(app, engine, world, HEADER + "2020-01-01,AAA,A,10,1\n", MAPPING.read_bytes())
    assert good["ok"] and waiting(tmp_path) == [good["pending_id"]]


def test_expired_uploads_are_purged(tmp_path: Path) -> None:
    now = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    for name, age in (("old", dt.timedelta(hours=25)), ("fresh", dt.timedelta(hours=1))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "meta.json").write_text(json.dumps({"created": (now - age).isoformat()}), encoding="utf-8")
    assert purge_expired(tmp_path, dt.timedelta(hours=24), now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh"]
    assert purge_expired(tmp_path / "missing", dt.timedelta(hours=24), now) == 0
