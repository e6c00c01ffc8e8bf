"""Survey waves: one round of one instrument for one or many organisations, opened and closed by an admin.

A wave goes draft -> open -> closed, and a closed wave never reopens: its data are then frozen, so results
published after closing cannot be differenced against later ones.
"""

from __future__ import annotations

import datetime as dt
import getpass
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from forewarn.store.database import transaction, write_connection
from forewarn.store.models import Organisation
from forewarn.store.models_surveys import (
    SurveyInstrument,
    SurveyResponse,
    SurveyToken,
    SurveyWave,
    SurveyWaveOrganisation,
)
from forewarn.surveys.errors import SurveyError, WaveNotFoundError, WaveStateError
from forewarn.surveys.instrument import Instrument, instrument_from_definition, resolve_instrument

DEFAULT_INSTRUMENT = "forewarn_lc"
WaveRef = int | str


@dataclass(frozen=True)
class WaveInfo:
    """A wave as the service shows it."""

    id: int
    name: str
    status: str
    instrument: str
    instrument_checksum: str
    min_group_size: int
    created_by: str
    created_at: dt.datetime
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    organisations: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "instrument": self.instrument,
            "instrument_checksum": self.instrument_checksum,
            "min_group_size": self.min_group_size,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "organisations": list(self.organisations),
        }


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def who(by: str | None) -> str:
    """The name recorded for an action: given (the caller falls back to the ``imported_by`` setting), else the
    operating-system user."""
    return by or getpass.getuser()


def effective_min_group_size(wave_minimum: int, floor: int) -> int:
    """The wave's own minimum, but never below ``floor``, the minimum group size setting (raising the setting
    protects old waves too)."""
    return max(wave_minimum, floor)


def register_instrument(conn: Connection, instrument: Instrument) -> int:
    """Store ``instrument`` (once per code and version) and return its id.

    A second definition under a code and version already stored is refused: results must always be traceable to
    exactly one definition, so a changed instrument needs a new version.
    """
    row = conn.execute(
        select(SurveyInstrument.id, SurveyInstrument.checksum).where(
            SurveyInstrument.code == instrument.code, SurveyInstrument.version == instrument.version
        )
    ).first()
    if row is not None:
        if row.checksum != instrument.checksum:
            raise SurveyError(
                f"instrument {instrument.label} is already stored with different content "
                f"(checksum {row.checksum[:12]}, this file {instrument.checksum[:12]}): give the changed "
                "instrument a new version"
            )
        return int(row.id)
    return int(
        conn.execute(
            insert(SurveyInstrument)
            .values(
                code=instrument.code,
                version=instrument.version,
                name=instrument.name,
                definition=instrument.definition(),
                checksum=instrument.checksum,
                registered_at=now(),
            )
            .returning(SurveyInstrument.id)
        ).scalar_one()
    )


def organisation_ids(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    """Code -> id for every code, or a :class:`SurveyError` naming the codes the store does not know."""
    wanted = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    known: dict[str, int] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        known.update(
            conn.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(chunk))).all()
        )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        raise SurveyError(
            f"unknown organisation code(s): {shown}; import the organisations first "
            "(`forewarn import FILE --mapping MAPPING.yml`)"
        )
    return {c: int(known[c]) for c in wanted}


def create_wave(
    db: Engine | Connection,
    name: str,
    organisations: Sequence[str],
    *,
    instrument: Instrument | str = DEFAULT_INSTRUMENT,
    created_by: str | None = None,
    min_group_size: int | None = None,
    floor: int,
) -> WaveInfo:
    """Create a draft wave of ``instrument`` for the organisations with these codes.

    ``min_group_size`` may raise the suppression threshold for this wave, never lower it below ``floor``, the
    ``FOREWARN_MIN_GROUP_SIZE`` setting (the default when it is not given).
    """
    name = name.strip()
    if not name:
        raise SurveyError("a wave needs a name")
    if name.isdigit():
        raise SurveyError("a wave name cannot be only digits (they are read as a wave id)")
    if not organisations:
        raise SurveyError("a wave needs at least one organisation")
    if min_group_size is None:
        min_group_size = floor
    elif min_group_size < floor:
        raise SurveyError(
            f"min_group_size {min_group_size} is below the minimum group size setting ({floor}); "
            "a wave may raise the threshold, never lower it"
        )
    chosen = resolve_instrument(instrument) if isinstance(instrument, str) else instrument
    with transaction(db) as conn:
        if conn.execute(select(SurveyWave.id).where(SurveyWave.name == name)).first() is not None:
            raise SurveyError(f"a wave named {name!r} already exists")
        org_ids = organisation_ids(conn, organisations)
        instrument_id = register_instrument(conn, chosen)
        wave_id = conn.execute(
            insert(SurveyWave)
            .values(
                name=name,
                instrument_id=instrument_id,
                status="draft",
                min_group_size=min_group_size,
                created_by=who(created_by),
                created_at=now(),
            )
            .returning(SurveyWave.id)
        ).scalar_one()
        conn.execute(
            insert(SurveyWaveOrganisation),
            [{"wave_id": wave_id, "organisation_id": i} for i in org_ids.values()],
        )
        return wave_info(conn, wave_id, floor=floor)


def resolve_wave_id(conn: Connection, wave: WaveRef) -> int:
    """A wave's id from its id or its name."""
    if isinstance(wave, int):
        found = conn.execute(select(SurveyWave.id).where(SurveyWave.id == wave)).scalar_one_or_none()
    else:
        found = conn.execute(
            select(SurveyWave.id).where(SurveyWave.name == wave.strip())
        ).scalar_one_or_none()
        if found is None and wave.strip().isdigit():
            found = conn.execute(select(SurveyWave.id).where(SurveyWave.id == int(wave))).scalar_one_or_none()
    if found is None:
        raise WaveNotFoundError(f"no survey wave {wave!r} (see `forewarn survey list`)")
    return int(found)


@dataclass(frozen=True)
class WaveState:
    """A wave's name and status: what a caller needs that shows no threshold (tokens, uploads, respondents)."""

    id: int
    name: str
    status: str


def wave_state(conn: Connection, wave: WaveRef) -> WaveState:
    """The wave's id, name and status, or :class:`WaveNotFoundError`."""
    wave_id = resolve_wave_id(conn, wave)
    name, status = conn.execute(
        select(SurveyWave.name, SurveyWave.status).where(SurveyWave.id == wave_id)
    ).one()
    return WaveState(wave_id, name, status)


def wave_info(conn: Connection, wave: WaveRef, *, floor: int) -> WaveInfo:
    """The wave as the service shows it, its threshold never below ``floor`` (the minimum group size setting)."""
    wave_id = resolve_wave_id(conn, wave)
    waves = SurveyWave.__table__
    w = (
        conn.execute(
            select(waves, SurveyInstrument.code, SurveyInstrument.version, SurveyInstrument.checksum)
            .join(SurveyInstrument, SurveyInstrument.id == waves.c.instrument_id)
            .where(waves.c.id == wave_id)
        )
        .mappings()
        .one()
    )
    return WaveInfo(
        id=w["id"],
        name=w["name"],
        status=w["status"],
        instrument=f"{w['code']}@{w['version']}",
        instrument_checksum=w["checksum"],
        min_group_size=effective_min_group_size(w["min_group_size"], floor),
        created_by=w["created_by"],
        created_at=w["created_at"],
        opened_at=w["opened_at"],
        closed_at=w["closed_at"],
        organisations=wave_organisations(conn, wave_id),
    )


def wave_organisations(conn: Connection, wave_id: int) -> tuple[str, ...]:
    """The codes of the wave's organisations, in order."""
    return tuple(
        conn.execute(
            select(Organisation.code)
            .join(SurveyWaveOrganisation, SurveyWaveOrganisation.organisation_id == Organisation.id)
            .where(SurveyWaveOrganisation.wave_id == wave_id)
            .order_by(Organisation.code)
        ).scalars()
    )


def get_wave(engine: Engine, wave: WaveRef, *, floor: int) -> WaveInfo:
    with engine.connect() as conn:
        return wave_info(conn, wave, floor=floor)


def list_waves(engine: Engine, *, floor: int) -> list[WaveInfo]:
    with engine.connect() as conn:
        ids = conn.execute(select(SurveyWave.id).order_by(SurveyWave.id)).scalars().all()
        return [wave_info(conn, i, floor=floor) for i in ids]


def wave_instrument(conn: Connection, wave_id: int) -> Instrument:
    """The instrument definition stored with the wave (not the file it came from, which may have changed since)."""
    definition = conn.execute(
        select(SurveyInstrument.definition)
        .join(SurveyWave, SurveyWave.instrument_id == SurveyInstrument.id)
        .where(SurveyWave.id == wave_id)
    ).scalar_one()
    return instrument_from_definition(definition, f"wave {wave_id}")


def open_wave(db: Engine | Connection, wave: WaveRef, *, floor: int, by: str | None = None) -> WaveInfo:
    """Open a draft wave for answers (in the caller's transaction when given a connection)."""
    with transaction(db) as conn:
        wave_id = resolve_wave_id(conn, wave)
        status = conn.execute(select(SurveyWave.status).where(SurveyWave.id == wave_id)).scalar_one()
        if status != "draft":
            raise WaveStateError(
                f"wave {wave!r} is {status}; only a draft wave can be opened (a closed wave stays closed)"
            )
        conn.execute(
            update(SurveyWave)
            .where(SurveyWave.id == wave_id)
            .values(status="open", opened_at=now(), opened_by=who(by))
        )
        return wave_info(conn, wave_id, floor=floor)


def close_wave(db: Engine | Connection, wave: WaveRef, *, floor: int, by: str | None = None) -> WaveInfo:
    """Close an open wave for good, and reseal its tokens and answers (see :func:`reseal_wave`).

    Given a connection, it closes in the caller's transaction, and the caller runs :func:`vacuum_survey_tables`
    once that transaction is committed (VACUUM cannot run inside one)."""
    with transaction(db) as conn:
        wave_id = resolve_wave_id(conn, wave)
        status = conn.execute(select(SurveyWave.status).where(SurveyWave.id == wave_id)).scalar_one()
        if status != "open":
            raise WaveStateError(f"wave {wave!r} is {status}; only an open wave can be closed")
        conn.execute(
            update(SurveyWave)
            .where(SurveyWave.id == wave_id)
            .values(status="closed", closed_at=now(), closed_by=who(by))
        )
        _reseal(conn, wave_id)
        info = wave_info(conn, wave_id, floor=floor)
    if isinstance(db, Engine):
        vacuum_survey_tables(db)
    return info


def reseal_wave(engine: Engine, wave: WaveRef) -> int:
    """Rewrite a wave's token-submitted responses and its tokens so storage order says nothing about who answered.

    Each answer set was written in the same transaction that marked its token used. PostgreSQL keeps the writing
    transaction's id (``xmin``) and the physical order of rows, which would let a database administrator pair a
    used token with its answers, or order answers by arrival. Resealing rewrites every token row, and re-inserts
    every token-submitted response under a fresh random id in random order, in one transaction, then vacuums
    the old row versions away. Closing a wave does this; an admin may also run it while a wave is open.
    Returns how many responses were rewritten.
    """
    with write_connection(engine) as conn:
        count = _reseal(conn, resolve_wave_id(conn, wave))
    vacuum_survey_tables(engine)
    return count


def _reseal(conn: Connection, wave_id: int) -> int:
    table = SurveyResponse.__table__
    rows = [
        dict(r)
        for r in conn.execute(
            select(table.c.organisation_id, table.c.submitted_month, table.c.answers).where(
                table.c.wave_id == wave_id, table.c.source == "token"
            )
        ).mappings()
    ]
    conn.execute(update(SurveyToken).where(SurveyToken.wave_id == wave_id).values(used=SurveyToken.used))
    if not rows:
        return 0
    conn.execute(
        delete(SurveyResponse).where(SurveyResponse.wave_id == wave_id, SurveyResponse.source == "token")
    )
    random.SystemRandom().shuffle(rows)
    conn.execute(
        insert(SurveyResponse),
        [
            {**r, "id": uuid.uuid4().hex, "wave_id": wave_id, "source": "token", "upload_id": None}
            for r in rows
        ],
    )
    return len(rows)


def vacuum_survey_tables(engine: Engine) -> None:
    """Vacuum away the old row versions a reseal left (PostgreSQL; nothing to do on SQLite)."""
    # Old row versions (with their transaction ids) stay in PostgreSQL's heap until vacuumed; VACUUM cannot run
    # inside a transaction block, hence its own autocommit connection.
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM survey_tokens, survey_responses")


def closed_wave_ids(conn: Connection) -> list[int]:
    """Ids of the survey waves that are closed (their results are published and never change)."""
    return [
        int(i) for i in conn.execute(select(SurveyWave.id).where(SurveyWave.status == "closed")).scalars()
    ]


def count_responses(conn: Connection, wave_id: int) -> dict[str, int]:
    """Raw responses per organisation code (internal: callers must pass these through the privacy rules)."""
    rows = conn.execute(
        select(Organisation.code, func.count(SurveyResponse.id))
        .join(
            SurveyWaveOrganisation,
            SurveyWaveOrganisation.organisation_id == Organisation.id,
        )
        .outerjoin(
            SurveyResponse,
            (SurveyResponse.wave_id == SurveyWaveOrganisation.wave_id)
            & (SurveyResponse.organisation_id == SurveyWaveOrganisation.organisation_id),
        )
        .where(SurveyWaveOrganisation.wave_id == wave_id)
        .group_by(Organisation.code)
        .order_by(Organisation.code)
    ).all()
    return {str(code): int(n) for code, n in rows}
