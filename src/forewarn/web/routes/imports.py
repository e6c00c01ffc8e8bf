"""Import a file through the web: upload it with its mapping, read the validation report row by row, confirm.

The upload waits in ``upload_dir/<id>/`` (owned by the account that uploaded it) between the report and the
confirmation; confirming runs the same all-or-nothing, idempotent importer as ``forewarn import``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from forewarn.access.policy import Permission
from forewarn.access.principal import Principal, utc_now
from forewarn.ingest import uploads
from forewarn.ingest.importer import ImportResult, import_file, validate_file
from forewarn.ingest.limits import Limits
from forewarn.ingest.mapping import MappingError, file_checksum, parse_mapping, text_checksum
from forewarn.ingest.problems import ImportRejected, Problem
from forewarn.store import bulk
from forewarn.store.database import writes_on
from forewarn.web.deps import AppState, ReadConnection, record, require
from forewarn.web.errors import BadRequestError, NotFoundError
from forewarn.web.rendering import render
from forewarn.web.schemas import ImportReportOut, ImportResultOut, ProblemOut
from forewarn.web.state import WebState

router = APIRouter()
Importer = Annotated[Principal, Depends(require(Permission.IMPORT_DATA))]
PENDING = PathParam(pattern=r"^[A-Za-z0-9_-]{16,64}$")
ALLOWED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".parquet", ".pq")
MAX_MAPPING_BYTES = 1024 * 1024


def _problem(p: Problem) -> ProblemOut:
    return ProblemOut(file=p.file, row=p.row, column=p.column, value=p.value, message=p.message)


def _safe_name(name: str | None) -> str:
    base = Path(name or "upload.csv").name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload.csv"
    return cleaned[-120:]


async def _save(
    state: WebState, principal: Principal, data: UploadFile, mapping: UploadFile
) -> tuple[str, Path, str]:
    name = _safe_name(data.filename)
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise ValueError("The file must be a CSV, Excel or Parquet file")
    mapping_bytes = await mapping.read(MAX_MAPPING_BYTES + 1)
    if len(mapping_bytes) > MAX_MAPPING_BYTES:
        raise ValueError("The mapping file must be smaller than 1 MB")
    try:
        mapping_text = mapping_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("The mapping file must be UTF-8 text (YAML)") from exc
    pending_id = secrets.token_urlsafe(18)
    folder = state.options.upload_dir / pending_id
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / name
    with path.open("wb") as out:
        while chunk := await data.read(1024 * 1024):
            out.write(chunk)
    (folder / "mapping.yml").write_text(mapping_text, encoding="utf-8")
    (folder / "meta.json").write_text(
        json.dumps({"user_id": principal.user_id, "file": name, "created": utc_now().isoformat()}),
        encoding="utf-8",
    )
    return pending_id, path, mapping_text


def _pending(state: WebState, principal: Principal, pending_id: str) -> tuple[Path, str]:
    """The waiting upload, only for the account that uploaded it and only while it is fresh."""
    folder = state.options.upload_dir / pending_id
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise NotFoundError("This upload is no longer waiting: upload the file again.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    created = dt.datetime.fromisoformat(meta["created"])
    if meta.get("user_id") != principal.user_id or utc_now() - created > state.options.upload_ttl:
        raise NotFoundError("This upload is no longer waiting: upload the file again.")
    return folder / meta["file"], (folder / "mapping.yml").read_text(encoding="utf-8")


def _report(
    state: WebState, conn: Connection, pending_id: str, path: Path, mapping_text: str
) -> ImportReportOut:
    try:
        mapping = parse_mapping(mapping_text, "mapping")
    except MappingError as exc:
        uploads.discard(path.parent)  # a rejected upload is deleted at once
        return ImportReportOut(
            ok=False,
            file=path.name,
            rows_read=0,
            total_problems=len(exc.problems),
            problems=[],
            mapping_problems=[_problem(p) for p in exc.problems],
        )
    previous = bulk.find_batch(conn, file_checksum(path), text_checksum(mapping_text))
    limits = Limits.from_settings(state.settings)
    report, _ = validate_file(path, mapping, state.settings.import_max_reported_errors, limits)
    if not report.ok or previous is not None:
        uploads.discard(path.parent)  # it cannot be confirmed: a rejected upload is deleted at once
    return ImportReportOut(
        ok=report.ok,
        file=path.name,
        rows_read=report.rows_read,
        total_problems=report.total_problems,
        problems=[_problem(p) for p in report.problems],
        mapping_problems=[],
        pending_id=pending_id if report.ok and previous is None else None,
        dataset=mapping.dataset.code,
        already_imported=previous is not None,
    )


def _result(result: ImportResult) -> ImportResultOut:
    return ImportResultOut(
        file=result.file,
        dataset=result.dataset,
        batch_id=result.batch_id,
        already_imported=result.already_imported,
        rows_read=result.rows_read,
        rows_skipped=result.rows_skipped,
        observations_inserted=result.observations_inserted,
        observations_updated=result.observations_updated,
        observations_unchanged=result.observations_unchanged,
        organisations_created=result.organisations_created,
        indicators_created=result.indicators_created,
        events_inserted=result.events_inserted,
        summary=result.summary(),
    )


def _confirm(
    state: WebState,
    conn: Connection,
    request: Request,
    principal: Principal,
    pending_id: str,
) -> ImportResultOut | ImportReportOut:
    """Import the waiting upload. The importer writes in a transaction of its own; the audit entry follows."""
    path, mapping_text = _pending(state, principal, pending_id)
    try:
        result = import_file(
            state.engine,
            path,
            mapping_text=mapping_text,
            imported_by=principal.email,
            chunk_rows=state.settings.import_chunk_rows,
            max_listed=state.settings.import_max_reported_errors,
            limits=Limits.from_settings(state.settings),
        )
    except (ImportRejected, MappingError):
        return _report(state, conn, pending_id, path, mapping_text)
    shutil.rmtree(path.parent, ignore_errors=True)
    with writes_on(conn):
        record(
            conn,
            request,
            principal,
            "import",
            "import_batch",
            result.batch_id,
            detail={"file": result.file, "dataset": result.dataset},
        )
    return _result(result)


async def _upload(
    state: WebState,
    conn: Connection,
    request: Request,
    principal: Principal,
    data: UploadFile,
    mapping: UploadFile,
) -> ImportReportOut:
    pending_id, path, mapping_text = await _save(state, principal, data, mapping)
    # Validation reads before the writing transaction: a long check must not hold the write lock.
    report = await run_in_threadpool(_report, state, conn, pending_id, path, mapping_text)
    await run_in_threadpool(
        _record_validation,
        conn,
        request,
        principal,
        pending_id,
        {"file": path.name, "problems": report.total_problems},
    )
    return report


def _record_validation(
    conn: Connection, request: Request, principal: Principal, pending_id: str, detail: dict[str, object]
) -> None:
    with writes_on(conn):
        record(conn, request, principal, "validate", "import", pending_id, detail=detail)


@router.get("/import", include_in_schema=False)
def import_page(request: Request, principal: Importer) -> Response:
    return render(request, "import.html", {"title": "Import a file"})


@router.post("/import", include_in_schema=False)
async def import_upload(
    request: Request,
    state: AppState,
    principal: Importer,
    conn: ReadConnection,
    data_file: Annotated[UploadFile | None, File()] = None,
    mapping_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    errors: dict[str, str] = {}
    if data_file is None or not data_file.filename:
        errors["data_file"] = "Select the file to import"
    if mapping_file is None or not mapping_file.filename:
        errors["mapping_file"] = "Select the mapping file that describes its layout"
    if not errors and data_file is not None and mapping_file is not None:
        try:
            report = await _upload(state, conn, request, principal, data_file, mapping_file)
        except ValueError as exc:
            errors["data_file" if "mapping" not in str(exc) else "mapping_file"] = str(exc)
        else:
            return render(
                request,
                "import_report.html",
                {"title": "Check the file", "report": report},
                status_code=200 if report.ok else 422,
            )
    return render(request, "import.html", {"title": "Import a file", "errors": errors}, status_code=400)


@router.post("/import/{pending_id}/confirm", include_in_schema=False)
def import_confirm(
    request: Request,
    state: AppState,
    principal: Importer,
    conn: ReadConnection,
    pending_id: str = PENDING,
) -> Response:
    outcome = _confirm(state, conn, request, principal, pending_id)
    if isinstance(outcome, ImportReportOut):
        return render(
            request, "import_report.html", {"title": "Check the file", "report": outcome}, status_code=422
        )
    return render(request, "import_done.html", {"title": "File imported", "result": outcome})


@router.post("/api/v1/imports", response_model=ImportReportOut, tags=["import"])
async def import_upload_api(
    request: Request,
    state: AppState,
    principal: Importer,
    conn: ReadConnection,
    data_file: Annotated[UploadFile, File(description="CSV, Excel or Parquet, as published")],
    mapping_file: Annotated[UploadFile, File(description="The mapping (YAML) describing the file's layout")],
) -> ImportReportOut:
    """Upload a file with its mapping and get the validation report (every problem, row by row). Nothing is
    written; when there are no problems, confirm with the returned ``pending_id``."""
    try:
        return await _upload(state, conn, request, principal, data_file, mapping_file)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc


@router.post(
    "/api/v1/imports/{pending_id}/confirm",
    response_model=ImportResultOut | ImportReportOut,
    tags=["import"],
)
def import_confirm_api(
    request: Request,
    state: AppState,
    principal: Importer,
    conn: ReadConnection,
    pending_id: str = PENDING,
) -> ImportResultOut | ImportReportOut:
    """Import an uploaded, validated file: all or nothing. Returns the report again if it no longer passes."""
    return _confirm(state, conn, request, principal, pending_id)
