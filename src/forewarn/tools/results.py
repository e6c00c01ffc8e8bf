"""What the analyst's Python API (:mod:`forewarn.api`) returns: a tool's tables in the input's kind (pandas or
Polars), its summary and warnings, and ``.chart()``, the Altair chart the web pages draw (charts are imported
only when drawn)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from forewarn.domain import Polarity, is_concern
from forewarn.tools.funnel import FunnelRequest
from forewarn.tools.output import AnalystResult

if TYPE_CHECKING:
    import altair as alt

Kind = Literal["pandas", "polars"]


def as_kind(frame: pl.DataFrame | None, kind: Kind) -> Any:
    if frame is None or kind == "polars":
        return frame
    return frame.to_pandas()


@dataclass(frozen=True, repr=False)
class Result:
    """What every tool returns.

    Attributes
    ----------
    table : pandas.DataFrame or polars.DataFrame
        The tool's main table, of the input's kind (one row per unit, point or group).
    summary : dict
        JSON-ready figures of the whole (the same as ``--json``'s ``summary``).
    series : pandas.DataFrame or polars.DataFrame or None
        One row per series (SPC, CUSUM, EWMA), of the input's kind; None for the others.
    warnings : tuple of str
        What the command line prints as warnings.
    """

    table: Any
    summary: dict[str, Any]
    series: Any = None
    warnings: tuple[str, ...] = ()
    _table: pl.DataFrame = field(default_factory=pl.DataFrame)
    _series: pl.DataFrame | None = None

    def chart(self) -> alt.TopLevelMixin:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def __repr__(self) -> str:
        figures = ", ".join(f"{k}={v!r}" for k, v in list(self.summary.items())[:6])
        return f"<{type(self).__name__}: {self._table.height} rows; {figures}, ...>"


def notebook_result(cls: type[Any], out: AnalystResult, kind: Kind, **extra: Any) -> Any:
    return cls(
        table=as_kind(out.table, kind),
        summary=out.summary,
        series=as_kind(out.series_table, kind),
        warnings=out.warnings,
        _table=out.table,
        _series=out.series_table,
        **extra,
    )


@dataclass(frozen=True, repr=False)
class FunnelResult(Result):
    request: FunnelRequest | None = None

    def chart(self, *, title: str = "the data", higher_is_better: bool | None = None) -> alt.LayerChart:
        """The funnel plot: each unit against the 95% (dashed) and 99.8% limits around the target.

        ``higher_is_better`` marks the outliers on the side of concern (orange diamonds); None calls neither
        side a concern."""
        import numpy as np

        from forewarn.charts.funnel import FUNNEL_AXIS_TITLES, FunnelCurve, FunnelUnit, funnel_plot
        from forewarn.stats.funnel import funnel_denominator_grid, funnel_limit_curves_from_estimates

        assert self.request is not None
        polarity = (
            Polarity.NEUTRAL
            if higher_is_better is None
            else Polarity.HIGHER_IS_BETTER
            if higher_is_better
            else Polarity.LOWER_IS_BETTER
        )
        t = self._table
        units = []
        for row in t.iter_rows(named=True):
            side = {"high": 1, "low": -1}.get(row["direction"] or "", 0)
            concern = is_concern(side, polarity)
            units.append(
                FunnelUnit(
                    label=str(row["unit"]),
                    denominator=row["denominator"],
                    value=row["value"],
                    outlier=side,
                    concern=concern,
                    z=row["z_adjusted"],
                    q=row["q_value"],
                )
            )
        options = self.request.options()
        denominators = t["denominator"].to_numpy()
        grid = np.unique(
            np.concatenate(
                [funnel_denominator_grid(denominators[denominators > 0], n_points=120)[0], denominators]
            )
        )
        grid = grid[grid > 0]
        s = self.summary
        curves = []
        for coverage, dashed in ((95.0, True), (99.8, False)):
            drawn = funnel_limit_curves_from_estimates(
                [s["target"]],
                [math.nan if s["phi"] is None else s["phi"]],
                [0.0 if s["tau2"] is None else s["tau2"]],
                grid,
                options=options,
                limit=coverage,
            )
            for which, values in (("lower", drawn.lower[0]), ("upper", drawn.upper[0])):
                curves.append(
                    FunnelCurve(f"{coverage:g}% {which}", grid.tolist(), values.tolist(), dashed=dashed)
                )
        value_title, denominator_title = FUNNEL_AXIS_TITLES[self.request.data_type]
        return funnel_plot(
            units,
            curves,
            target=s["target"],
            title=title,
            value_title=value_title,
            denominator_title=denominator_title,
            kind="proportion" if self.request.data_type == "PR" else "ratio_oe",
        )


@dataclass(frozen=True, repr=False)
class SeriesResult(Result):
    """A result with one chart per series: ``chart(series=...)`` draws one, by default the first."""

    tool: str = "spc"
    improvement: str = "increase"

    @property
    def series_names(self) -> list[str]:
        return list(dict.fromkeys(self._table["series"].cast(pl.String).to_list()))

    def chart(self, series: str | None = None) -> alt.LayerChart:
        """The chart of one series (default: the first): an XmR or run chart (``spc``), or the CUSUM or EWMA
        statistic against its limits with the alarms marked."""
        names = self.series_names
        name = names[0] if series is None else series
        if name not in names:
            raise ValueError(f"no series {name!r}; the series are {', '.join(names[:20])}")
        rows = self._table.filter(pl.col("series").cast(pl.String) == name)
        if self.tool == "spc":
            return self._spc_chart(name, rows)
        from forewarn.charts.monitor import MonitoredSeries, monitor_chart

        if self.tool == "cusum":
            h = self.summary["threshold"]
            monitored = MonitoredSeries(
                name=name,
                statistic_name="CUSUM",
                period=tuple(rows["period"].to_list()),
                statistic=tuple(rows["statistic"].to_list()),
                upper=(h,) * rows.height,
                alarm=tuple(bool(a) for a in rows["alarm"].to_list()),
            )
        else:
            monitored = MonitoredSeries(
                name=name,
                statistic_name="EWMA",
                period=tuple(rows["period"].to_list()),
                statistic=tuple(rows["ewma"].to_list()),
                upper=tuple(rows["upper"].to_list()),
                lower=tuple(rows["lower"].to_list()),
                alarm=tuple(bool(a) for a in rows["alarm"].to_list()),
            )
        return monitor_chart(monitored)

    def _spc_chart(self, name: str, rows: pl.DataFrame) -> alt.LayerChart:
        from forewarn.charts.spc import SpcSeries, spc_chart

        labels = rows["period"].to_list()
        dates = _dates(labels)
        periods: tuple[dt.date, ...] | tuple[str, ...] = tuple(dates) if dates is not None else tuple(labels)
        segment = [0 if s is None else int(s) for s in rows["segment"].to_list()]
        rebases = tuple(p for i, p in enumerate(periods) if i and segment[i] != segment[i - 1])
        run = "centre" in rows.columns
        mean = rows["centre" if run else "mean"].to_list()
        none = (None,) * rows.height
        variation = None
        if self._series is not None and "variation_type" in self._series.columns:
            last = self._series.filter(pl.col("series") == name)
            variation = last["variation_type"][-1] if last.height else None
        target = self.summary.get("target")
        chart = SpcSeries(
            indicator_code=name,
            indicator_name=name,
            unit=None,
            improvement=self.improvement,  # type: ignore[arg-type]
            period=periods,
            value=tuple(rows["value"].to_list()),
            mean=tuple(mean),
            lpl=none if run else tuple(rows["lpl"].to_list()),
            upl=none if run else tuple(rows["upl"].to_list()),
            point_type=("common_cause",) * rows.height
            if run
            else tuple(rows["point_type"].fill_null("").to_list()),
            rule=none if run else tuple(rows["special_cause_type"].to_list()),
            target=target if isinstance(target, float | int) else None,
            rebases=rebases,  # type: ignore[arg-type]
            variation=variation,
            segment=tuple(segment),
            chart_name="Run chart" if run else "XmR chart",
            limits=not run,
        )
        return spc_chart(chart)


def _dates(labels: Sequence[str]) -> list[dt.date] | None:
    """The period labels as dates when every one reads as a date, a month or a year; None otherwise."""
    out = []
    for label in labels:
        text = str(label)
        for form in ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m"):
            try:
                out.append(dt.datetime.strptime(text, form).date())
                break
            except ValueError:
                continue
        else:
            return None
    return out


@dataclass(frozen=True, repr=False)
class RanksResult(Result):
    def chart(self, *, group: str | None = None, title: str = "the data") -> alt.LayerChart:
        """Each unit's rank with its interval (one league table: ``group``, by default the first)."""
        from forewarn.charts.ranks import RankInterval, rank_interval_chart

        rows = self._table
        if "group" in rows.columns:
            chosen = rows["group"][0] if group is None else group
            rows = rows.filter(pl.col("group") == chosen)
        n = rows.height
        middle = (n + 1) / 2
        intervals = [
            RankInterval(
                label=str(r["unit"]),
                rank=float(r["rank"]),
                lower=float(r["lower_rank"]),
                upper=float(r["upper_rank"]),
                distinguishable=1 if r["upper_rank"] < middle else -1 if r["lower_rank"] > middle else 0,
            )
            for r in rows.iter_rows(named=True)
        ]
        return rank_interval_chart(intervals, of=n, title=title)


@dataclass(frozen=True, repr=False)
class PsychometricsResult(Result):
    def chart(self) -> alt.LayerChart:
        """Each published group's mean score with its interval (suppressed groups are not drawn)."""
        from forewarn.charts.monitor import GroupMean, group_means_chart

        shown = self._table.filter(~pl.col("suppressed"))
        groups = [
            GroupMean(str(r["group"]), r["mean"], r["ci_lower"], r["ci_upper"], int(r["n"]))
            for r in shown.iter_rows(named=True)
            if r["mean"] is not None
        ]
        return group_means_chart(groups, title=f"score ({self.summary['scale_points']}-point scale)")
