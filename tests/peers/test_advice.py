"""Advice that arrives early on a simulated region: the set-based advice for every organisation gives, for each
drifting organisation and indicator, exactly the deviants ``forewarn deviants --org`` finds for it alone, and
asking for one organisation gives what asking for all gives it."""

from __future__ import annotations

from forewarn.peers.advice import early_advice
from forewarn.peers.deviants import find_deviants
from forewarn.peers.drift import indicator_drifts
from forewarn.store.database import read_connection
from forewarn.store.models import Organisation
from forewarn.surveillance.scan import run_scan
from tests.peers.conftest import Region


def test_set_based_advice_matches_each_organisation_alone(region: Region) -> None:
    run_scan(region.engine)
    with read_connection(region.engine) as conn:
        drifts = indicator_drifts(conn)
        advice = early_advice(conn)
        assert drifts.height > 0
        # Every organisation with an indicator drift is advised on that indicator, with its reasons.
        for oid, code in drifts.select("organisation_id", "code").unique().iter_rows():
            on = {i.code: i for i in advice[oid].indicators}
            assert code in on and on[code].reasons
        codes = dict(
            conn.execute(
                Organisation.__table__.select().with_only_columns(Organisation.id, Organisation.code)
            ).all()
        )
        checked = with_deviants = 0
        for oid in sorted(advice)[:: max(1, len(advice) // 6)][:6]:
            alone = early_advice(conn, [oid])[oid]
            assert alone == advice[oid]
            for item in alone.indicators:
                report = find_deviants(conn, item.code, organisation=codes[oid])
                expected = [d.organisation_id for d in report.groups[0].deviants]
                assert [d.organisation_id for d in item.deviants] == expected
                assert item.neighbours_by == report.neighbours_by
                checked += 1
                with_deviants += bool(expected)
        assert checked >= 6 and with_deviants >= 1
