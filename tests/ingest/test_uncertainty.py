"""Standard errors of values: from a column, or from confidence limits (natural or log scale, any level); every bad
limit named by row and column; stored, revised, exported and carried into the scan's panel.

The standard error from a confidence interval. A normal interval of level ``1 - alpha`` is ``value +- z SE`` with
``z = Phi^-1(1 - alpha / 2)``, so its width is ``upper - lower = 2 z SE`` and ``SE = (upper - lower) / (2 z)``.
For 95% z = 1.959964, for 90% z = 1.644854 (Phi^-1(0.975), Phi^-1(0.95); any normal table). A ratio's interval is
normal on the log scale, ``exp(ln value +- z SE_log)``, so ``SE_log = (ln upper - ln lower) / (2 z)`` and, by the
delta method (d value = value d ln value), ``SE = value x SE_log``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from forewarn.ingest.importer import import_file
from forewarn.ingest.mapping import MappingError
from forewarn.ingest.problems import ImportRejected
from forewarn.ingest.uncertainty import z_for_level
from forewarn.store.models import ObservationRevision
from forewarn.store.queries import counts, observations_frame
from forewarn.surveillance.scan import load_panel
from tests.conftest import FIXTURES

FINGERTIPS = FIXTURES / "ingest" / "fingertips_with_ci.csv"
FINGERTIPS_MAPPING = FIXTURES / "ingest" / "fingertips_with_ci.yml"
Z95 = 1.959964  # Phi^-1(0.975), to the six decimals of a printed normal table
Z90 = 1.644854  # Phi^-1(0.95)

MAPPING = """
version: 1
dataset: {code: test_se, name: Test values with uncertainty}
columns: {area: text, period: text, value: number, se: number, lo: number, hi: number, label: text}
organisation: {code: area}
period: {column: period, format: year}
indicators:
  - {code: score, name: Score, kind: mean, polarity: higher_is_better, value: value, UNCERTAINTY}
"""
HEADER = "area,period,value,se,lo,hi,label\n"


def mapping(uncertainty: str) -> str:
    return MAPPING.replace("UNCERTAINTY", uncertainty)


CI = "lower: lo, upper: hi"
SE = "standard_error: se"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored(engine: Engine, code: str = "score") -> pl.DataFrame:
    with engine.connect() as conn:
        return observations_frame(conn, code)


def rejected(engine: Engine, path: Path, mapping_text: str) -> list[str]:
    with engine.connect() as conn:
        before = counts(conn)
    with pytest.raises(ImportRejected) as info:
        import_file(engine, path, mapping_text=mapping_text)
    with engine.connect() as conn:
        assert counts(conn) == before, "a rejected import must write nothing"
    return [str(p) for p in info.value.report.problems]


def test_normal_quantiles_of_the_derivation() -> None:
    assert z_for_level(0.95) == pytest.approx(Z95, abs=5e-7)
    assert z_for_level(0.90) == pytest.approx(Z90, abs=5e-7)
    # An interval built as value +- z SE gives back its SE.
    value, se = 50.0, 2.5
    lower, upper = value - Z95 * se, value + Z95 * se
    assert (upper - lower) / (2 * z_for_level(0.95)) == pytest.approx(se, rel=1e-6)


def test_standard_error_column_is_stored(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "se.csv", HEADER + "A,2019,50,2.5,,,\nA,2020,52,,,,\nB,2019,48,0,,,\n")
    result = import_file(engine, path, mapping_text=mapping(SE))
    assert result.observations_inserted == 3
    frame = stored(engine).sort("org_code", "period_start")
    # A value without a standard error stores none: not an error.
    assert frame["standard_error"].to_list() == [2.5, None, 0.0]


@pytest.mark.parametrize(("level", "z"), [(None, Z95), (95, Z95), (90, Z90)])
def test_standard_error_from_natural_scale_limits(
    engine: Engine, tmp_path: Path, level: int | None, z: float
) -> None:
    path = write(tmp_path, "ci.csv", HEADER + "A,2019,50,,46.08,53.92,\nA,2020,52,,,,\n")
    extra = "" if level is None else f", ci_level: {level}"
    import_file(engine, path, mapping_text=mapping(CI + extra))
    se = stored(engine).sort("period_start")["standard_error"].to_list()
    assert se[0] == pytest.approx((53.92 - 46.08) / (2 * z), rel=1e-6)
    assert se[1] is None


def test_standard_error_from_log_scale_limits(engine: Engine, tmp_path: Path) -> None:
    # A ratio of 1.2 with SE_log = 0.1: limits 1.2 exp(-+1.959964 x 0.1); SE = 1.2 x 0.1.
    lower, upper = 1.2 * math.exp(-Z95 * 0.1), 1.2 * math.exp(Z95 * 0.1)
    path = write(tmp_path, "log.csv", HEADER + f"A,2019,1.2,,{lower:.6f},{upper:.6f},\n")
    import_file(engine, path, mapping_text=mapping(CI + ", ci_scale: log"))
    assert stored(engine)["standard_error"].item() == pytest.approx(0.12, rel=1e-5)


def test_fingertips_style_export_with_confidence_limits(engine: Engine) -> None:
    result = import_file(engine, FINGERTIPS, FINGERTIPS_MAPPING)
    assert result.observations_inserted == 12
    source = pl.read_csv(FINGERTIPS, infer_schema=False).with_columns(
        pl.col("Value", "Lower CI 95.0 limit", "Upper CI 95.0 limit", "Count").cast(pl.Float64)
    )
    smoking = stored(engine, "ft_smoking").sort("org_code", "period_start")
    rows = source.filter(pl.col("Indicator ID") == "92443").sort("Area Code", "Time period")
    width = rows["Upper CI 95.0 limit"] - rows["Lower CI 95.0 limit"]
    expected = (width / (2 * Z95)).to_list()
    assert expected[-1] is None  # the row whose interval was not published
    assert smoking["standard_error"].to_list()[:-1] == pytest.approx(expected[:-1], rel=1e-6)
    assert smoking["standard_error"].to_list()[-1] is None
    assert smoking["value"].to_list()[-1] == pytest.approx(14.6667)
    # The ratio's limits were made as Value x exp(+-z / sqrt(Count)): its SE is Value / sqrt(Count).
    falls = stored(engine, "ft_falls_sar").sort("org_code", "period_start")
    rows = source.filter(pl.col("Indicator ID") == "93240").sort("Area Code", "Time period")
    assert falls["standard_error"].to_list() == pytest.approx(
        (rows["Value"] / rows["Count"].sqrt()).to_list(), rel=1e-4
    )
    again = import_file(engine, FINGERTIPS, FINGERTIPS_MAPPING)
    assert again.already_imported


@pytest.mark.parametrize(
    ("uncertainty", "row", "problems"),
    [
        (SE, "A,2019,50,-1,,,", ["row 2, column 'se': negative standard error for indicator 'score' (value '-1.0')"]),
        (SE, "A,2019,50,inf,,,", ["row 2, column 'se': not a finite number: infinity and NaN are refused (value 'inf')"]),
        (SE, "A,2019,50,NaN,,,", ["row 2, column 'se': not a finite number: infinity and NaN are refused (value 'NaN')"]),
        (SE, "A,2019,50,wide,,,", ["row 2, column 'se': not a number (value 'wide')"]),
        (CI, "A,2019,50,,55,45,", ["row 2, column 'lo': lower confidence limit above the upper (45.0) for indicator 'score' (value '55.0')"]),
        (CI, "A,2019,50,,51,55,", ["row 2, column 'lo': value 50.0 lies below its lower confidence limit, beyond rounding for indicator 'score' (value '51.0')"]),
        (CI, "A,2019,50,,40,49.5,", ["row 2, column 'hi': value 50.0 lies above its upper confidence limit, beyond rounding for indicator 'score' (value '49.5')"]),
        (CI, "A,2019,50,,45,,", ["row 2, column 'hi': upper confidence limit missing (the other is given) for indicator 'score'"]),
        (CI, "A,2019,50,,,55,", ["row 2, column 'lo': lower confidence limit missing (the other is given) for indicator 'score'"]),
        (CI, "A,2019,50,,-inf,55,", ["row 2, column 'lo': not a finite number: infinity and NaN are refused (value '-inf')"]),
        (CI, "A,2019,50,,4x,55,", ["row 2, column 'lo': not a number (value '4x')"]),
        (
            CI + ", ci_scale: log",
            "A,2019,0,,0,2,",
            ["row 2, column 'lo': confidence limit is not above zero, as a log-scale interval (ci_scale: log) needs for indicator 'score' (value '0.0')"],
        ),
    ],
)  # fmt: skip
def test_every_bad_uncertainty_is_named_with_row_and_column(
    engine: Engine, tmp_path: Path, uncertainty: str, row: str, problems: list[str]
) -> None:
    path = write(tmp_path, "bad.csv", HEADER + "B,2019,50,1,45,55,\n" + row + "\n")
    found = rejected(engine, path, mapping(uncertainty))
    assert found == [f"bad.csv, {p}".replace("row 2", "row 3") for p in problems]


def test_rounding_tolerance_lets_a_value_touch_its_limit(engine: Engine, tmp_path: Path) -> None:
    # Published to one decimal, a value may round just outside its limit: 0.05 is under 1% of a width of 10.
    ok = write(tmp_path, "ok.csv", HEADER + "A,2019,45.0,,45.05,55,\nB,2019,55.05,,45,55,\nC,2019,7,,7,7,\n")
    assert import_file(engine, ok, mapping_text=mapping(CI)).observations_inserted == 3
    out = write(tmp_path, "out.csv", HEADER + "A,2019,44.8,,45,55,\n")
    assert rejected(engine, out, mapping(CI)) == [
        "out.csv, row 2, column 'lo': value 44.8 lies below its lower confidence limit, beyond rounding for "
        "indicator 'score' (value '45.0')"
    ]


@pytest.mark.parametrize(
    ("uncertainty", "message"),
    [
        (SE + ", " + CI, "indicator 'score': give `standard_error` or `lower` and `upper`, not both"),
        ("lower: lo", "indicator 'score': a confidence interval needs both `lower` and `upper`"),
        ("ci_level: 90", "indicator 'score': `ci_level` and `ci_scale` describe `lower` and `upper`, which are not set"),
        (CI + ", ci_level: 100", "indicators.0.ci_level"),
        (CI + ", ci_scale: probit", "indicators.0.ci_scale"),
        ("standard_error: stderr", "indicators[score].standard_error refers to column 'stderr', which is not declared"),
        ("standard_error: label", "indicators[score].standard_error names column 'label', declared as 'text', not number"),
    ],
)  # fmt: skip
def test_mapping_problems_with_uncertainty(
    tmp_path: Path, engine: Engine, uncertainty: str, message: str
) -> None:
    path = write(tmp_path, "x.csv", HEADER + "A,2019,50,1,45,55,\n")
    with pytest.raises(MappingError) as info:
        import_file(engine, path, mapping_text=mapping(uncertainty))
    assert message in str(info.value)


def test_summed_rows_cannot_carry_a_standard_error(tmp_path: Path, engine: Engine) -> None:
    text = (
        mapping(SE)
        .replace("kind: mean", "kind: count")
        .replace("value: value,", "numerator: value, aggregate: sum,")
    )
    with pytest.raises(MappingError, match="cannot combine the rows' standard errors"):
        import_file(engine, write(tmp_path, "x.csv", HEADER), mapping_text=text)


def test_a_corrected_standard_error_alone_is_a_revision(engine: Engine, tmp_path: Path) -> None:
    first = import_file(
        engine,
        write(tmp_path, "v1.csv", HEADER + "A,2019,50,2.5,,,\nA,2020,52,2.0,,,\n"),
        mapping_text=mapping(SE),
    )
    second = import_file(
        engine,
        write(tmp_path, "v2.csv", HEADER + "A,2019,50,2.7,,,\nA,2020,52,2.0,,,\n"),
        mapping_text=mapping(SE),
    )
    assert (second.observations_inserted, second.observations_updated, second.observations_unchanged) == (
        0,
        1,
        1,
    )
    frame = stored(engine).sort("period_start")
    assert frame["standard_error"].to_list() == [2.7, 2.0]
    assert frame["revision"].to_list() == [2, 1]
    with engine.connect() as conn:
        revisions = conn.execute(select(ObservationRevision.__table__)).mappings().all()
    assert [(r["value"], r["standard_error"], r["batch_id"]) for r in revisions] == [
        (50.0, 2.5, first.batch_id)
    ]
    # A standard error that disappears is a change too; the same file again is not.
    third = import_file(
        engine, write(tmp_path, "v3.csv", HEADER + "A,2019,50,,,,\n"), mapping_text=mapping(SE)
    )
    assert third.observations_updated == 1
    assert stored(engine).sort("period_start")["standard_error"].to_list() == [None, 2.0]
    assert import_file(engine, tmp_path / "v3.csv", mapping_text=mapping(SE)).already_imported


def test_the_scan_panel_carries_standard_errors(engine: Engine) -> None:
    import_file(engine, FINGERTIPS, FINGERTIPS_MAPPING)
    with engine.connect() as conn:
        panel, _ = load_panel(conn)
    assert panel.standard_error.shape == panel.value.shape
    observed = ~np.isnan(panel.value)
    for code in ("ft_smoking", "ft_falls_sar"):
        frame = stored(engine, code).sort("org_code", "period_start")
        index = panel.indicators["code"].to_list().index(code)
        series = panel.indicator_index == index
        se = panel.standard_error[series][observed[series]]
        assert se.tolist() == pytest.approx(frame["standard_error"].fill_null(np.nan).to_list(), nan_ok=True)
    # NaN where absent: the unpublished interval, and every padded cell.
    assert int(np.isnan(panel.standard_error[observed]).sum()) == 1
    assert np.isnan(panel.standard_error[~observed]).all()


def test_fingerprints_change_with_standard_errors_only(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, write(tmp_path, "a.csv", HEADER + "A,2019,50,,,,\n"), mapping_text=mapping(SE))
    with engine.connect() as conn:
        without, _ = load_panel(conn)
    import_file(engine, write(tmp_path, "b.csv", HEADER + "A,2019,50,2.5,,,\n"), mapping_text=mapping(SE))
    with engine.connect() as conn:
        with_se, _ = load_panel(conn)
    assert without.fingerprint[0] != with_se.fingerprint[0]
    import_file(
        engine, write(tmp_path, "c.csv", HEADER + "A,2019,50,,,,relabelled\n"), mapping_text=mapping(SE)
    )
    with engine.connect() as conn:
        again, _ = load_panel(conn)
    # A series without standard errors keeps the fingerprint it had before they existed.
    assert again.fingerprint[0] == without.fingerprint[0]


def test_export_includes_standard_errors(runner: CliRunner, tmp_path: Path) -> None:
    from forewarn.cli import app

    imported = runner.invoke(app, ["import", str(FINGERTIPS), "--mapping", str(FINGERTIPS_MAPPING)])
    assert imported.exit_code == 0, imported.output
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"falls.{suffix}"
        result = runner.invoke(app, ["export", "ft_smoking", "-o", str(out)])
        assert result.exit_code == 0, result.output
        frame = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
        assert frame.columns.index("standard_error") == frame.columns.index("expected") + 1
        se = frame["standard_error"].to_list()
        assert se[0] == pytest.approx((21.3014 - 15.3805) / (2 * Z95), rel=1e-6)
        assert se[-1] is None
