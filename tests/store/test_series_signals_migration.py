"""Migration 0019 packs each series' rows of ``signals`` into one ``series_signals`` row, and its downgrade unpacks
them: the signals every reader gets (``forewarn.store.signals.read_signals``) are the same, values to the bit,
across downgrade and upgrade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import Engine, inspect

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.signals import StoredSignal, read_signals
from forewarn.surveillance.scan import run_scan
from tests.surveillance.test_scan import MAPPING, _panel_csv


def _all_signals(engine: Engine) -> list[tuple[int, StoredSignal]]:
    with engine.connect() as conn:
        organisations = [r[0] for r in conn.exec_driver_sql("SELECT id FROM organisations ORDER BY id")]
        return [(o, s) for o in organisations for s in read_signals(conn, o)]


def _bits(value: float | None) -> bytes | None:
    return None if value is None else np.float64(value).tobytes()


def test_downgrade_unpacks_and_upgrade_packs_the_same_signals(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, _panel_csv(tmp_path), mapping_text=MAPPING)
    scan = run_scan(engine)
    before = _all_signals(engine)
    assert len(before) == scan.signals_written > 0 and {s.method for _, s in before} >= {"spc", "cusum"}

    migrate.downgrade(engine, "0016")
    tables = set(inspect(engine).get_table_names())
    assert "signals" in tables and "series_signals" not in tables
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM signals").scalar() == len(before)
        # Values the text must carry exactly: the smallest subnormal, a sum with a long expansion, a null.
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM signals ORDER BY id LIMIT 3")]
        for id_, value in zip(ids, (5e-324, 0.1 + 0.2, None), strict=True):
            literal = "NULL" if value is None else repr(value)
            conn.exec_driver_sql(f"UPDATE signals SET value = {literal} WHERE id = {id_}")
        awkward = {
            (r[0], r[1], str(r[2]), r[3]): r[4]
            for r in conn.exec_driver_sql(
                "SELECT organisation_id, indicator_id, period_start, rule, value FROM signals WHERE id IN "
                f"({', '.join(map(str, ids))})"
            )
        }

    migrate.upgrade(engine)
    assert "signals" not in set(inspect(engine).get_table_names())
    after = _all_signals(engine)
    assert len(after) == len(before)
    changed = 0
    for (organisation, old), (same_organisation, new) in zip(before, after, strict=True):
        assert organisation == same_organisation
        assert (old.indicator_id, old.method, old.rule, old.direction, old.period_start, old.scan_id) == (
            new.indicator_id,
            new.method,
            new.rule,
            new.direction,
            new.period_start,
            new.scan_id,
        )
        key = (organisation, new.indicator_id, str(new.period_start), new.rule)
        if key in awkward:
            changed += 1
            assert _bits(new.value) == _bits(awkward[key])
        else:
            assert _bits(new.value) == _bits(old.value)
    assert changed == 3
