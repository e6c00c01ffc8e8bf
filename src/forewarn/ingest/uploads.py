"""Where a file uploaded for import waits between its validation report and the confirmation, and its removal.

An upload lives in its own folder, ``upload_dir/<pending id>/`` (the file, its mapping and ``meta.json`` with the
account and the time it arrived). A folder is deleted as soon as it can no longer be confirmed: when the import
is done, when the file is rejected (its report has problems, its mapping cannot be used, or it was already
imported), and, for uploads nobody confirmed, by :func:`purge_expired` once they are older than the time an
upload may wait.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path


def discard(folder: Path) -> None:
    """Delete an upload's folder and everything in it (nothing happens if it is already gone)."""
    shutil.rmtree(folder, ignore_errors=True)


def purge_expired(upload_dir: Path, max_age: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Delete the uploads older than ``max_age`` (a folder without a readable ``meta.json`` by its own age);
    returns how many were deleted."""
    if not upload_dir.is_dir():
        return 0
    now = now or dt.datetime.now(dt.UTC)
    removed = 0
    for folder in upload_dir.iterdir():
        if not folder.is_dir():
            continue
        try:
            created = dt.datetime.fromisoformat(
                json.loads((folder / "meta.json").read_text(encoding="utf-8"))["created"]
            )
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            expired = now - created > max_age
        except (OSError, ValueError, KeyError, TypeError):  # half written or damaged: judge by its age
            modified = dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)
            expired = now - modified > max_age
        if expired:
            discard(folder)
            removed += 1
    return removed
