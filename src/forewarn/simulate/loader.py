"""Import a simulation's observable output into the store (``load``), through the importer (never its truth).

Split from :mod:`forewarn.simulate.service`, which re-exports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from forewarn.ingest.importer import ImportResult, import_file
from forewarn.ingest.limits import Limits
from forewarn.simulate.writer import EVENTS_FILE, MANIFEST_FILE, ORGANISATIONS_FILE

Stage = Callable[[str, int | None], Callable[[int], None]]


@dataclass(frozen=True)
class LoadResult:
    """The three imports ``load`` made (survey responses are left to the surveys service)."""

    organisations: ImportResult
    indicators: ImportResult
    events: ImportResult

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("organisations", "indicators", "events")}


def load(
    engine: Engine,
    out_dir: Path,
    *,
    imported_by: str | None = None,
    chunk_rows: int = 100_000,
    stage: Stage | None = None,
    limits: Limits | None = None,
) -> LoadResult:
    """Import a simulation's organisations, indicators and events through the importer (never its truth), within
    ``limits`` (the caller's, from its settings).

    The one exception to ``limits``: the indicators file may hold as many rows as the simulation declared in its
    manifest (``indicator_rows``), the size the user asked for with ``--orgs`` and ``--years``, when that is more
    than the row limit (5,000,000 by default, about 6,900 organisations over three years), and be as large in
    bytes, per declared row, as the limits allow per row (``max_file_bytes`` scaled by the declared rows over
    ``max_rows``; 200 MB for 5,000,000 rows by default, so a Parquet file of 50,000 organisations over ten years
    is admitted). Every row is still validated, the import is still all or nothing, and a file holding more rows
    or bytes than declared allows is refused as any file over the limit is.

    Survey responses are left for the surveys service (format: ``README.md`` in ``out_dir``). Idempotent like every
    import: loading the same folder twice changes nothing the second time.
    """
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{out_dir} holds no simulation ({MANIFEST_FILE} is missing): run simulate first"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    ext = "parquet" if manifest.get("file_format") == "parquet" else "csv"
    kwargs: dict[str, Any] = {"imported_by": imported_by, "chunk_rows": chunk_rows, "limits": limits}
    if stage is not None:
        kwargs["stage"] = stage
    organisations = import_file(
        engine, out_dir / ORGANISATIONS_FILE, out_dir / "organisations_mapping.yml", **kwargs
    )
    declared = int(manifest.get("indicator_rows", 0))
    own = limits or Limits()
    indicators = import_file(
        engine,
        out_dir / f"indicators.{ext}",
        out_dir / "indicators_mapping.yml",
        **{**kwargs, "limits": declared_limits(own, declared)},
    )
    events = import_file(engine, out_dir / EVENTS_FILE, out_dir / "events_mapping.yml", **kwargs)
    return LoadResult(organisations=organisations, indicators=indicators, events=events)


__all__ = ["LoadResult", "load"]


def declared_limits(limits: Limits, declared_rows: int) -> Limits:
    """``limits`` widened for the simulator's own indicators file of ``declared_rows`` rows: as many rows as
    declared, and as many bytes per declared row as ``limits`` allow per row (never less than ``limits``)."""
    if declared_rows <= limits.max_rows:
        return limits
    scaled_bytes = limits.max_file_bytes * declared_rows // max(limits.max_rows, 1)
    return replace(limits, max_rows=declared_rows, max_file_bytes=max(limits.max_file_bytes, scaled_bytes))
