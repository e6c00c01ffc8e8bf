"""After withdrawal: does the improvement last? Each withdrawn intervention's score is monitored against the level
it achieved by the end of the intervention (``stats.relapse``), for ``follow_up_months`` (default 24), and a
relapse is flagged at the first CUSUM or shift signal. The score is the one the effect estimate uses
(``cases.effects.score_panel``), over the intervention's targeted indicators.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from forewarn.cases.effects import Intervention, ScorePanel
from forewarn.stats.relapse import RelapseOptions, relapse_monitor

FOLLOW_UP_MONTHS = 24


@dataclass(frozen=True)
class FollowUpOptions:
    """``baseline_months``: the last months of the intervention that make the achieved level; ``noise_months``:
    the months up to withdrawal the month-to-month noise (XmR sigma) is taken from."""

    baseline_months: int = 6
    noise_months: int = 18
    follow_up_months: int = FOLLOW_UP_MONTHS
    relapse: RelapseOptions = field(default_factory=RelapseOptions)

    def __post_init__(self) -> None:
        if self.baseline_months < 3:
            raise ValueError("baseline_months must be at least 3 (a sigma needs moving ranges)")
        if self.noise_months < self.baseline_months:
            raise ValueError("noise_months must be at least baseline_months")
        if self.follow_up_months < 1:
            raise ValueError("follow_up_months must be at least 1")


@dataclass(frozen=True)
class FollowUp:
    """One withdrawn intervention's follow-up.

    ``status``: ``relapse`` (a signal), ``holding`` (followed so far, no signal, follow-up not over), ``held``
    (the whole follow-up passed without a signal), or ``not monitored`` (too little data; see ``reason``).
    """

    key: str
    org_code: str
    withdrawal: dt.date
    achieved: float
    sigma: float
    months_followed: int
    status: str
    alarm_month: dt.date | None = None
    signal: str | None = None
    reason: str | None = None
    months: tuple[dt.date, ...] = ()
    z: tuple[float, ...] = ()

    @property
    def relapsed(self) -> bool:
        return self.status == "relapse"


def _month(panel: ScorePanel, index: int) -> dt.date:
    first = panel.periods[0]
    total = first.year * 12 + first.month - 1 + index
    return dt.date(total // 12, total % 12 + 1, 1)


def follow_up(
    panel: ScorePanel,
    withdrawn: Iterable[Intervention],
    *,
    next_start: Mapping[str, dt.date] | None = None,
    options: FollowUpOptions | None = None,
) -> list[FollowUp]:
    """Monitor every intervention with an end date in ``withdrawn``.

    ``next_start`` maps an intervention's key to the start of the organisation's next intervention, where the
    follow-up stops (a new intervention is a new baseline).
    """
    opts = options or FollowUpOptions()
    index = panel.index_of()
    todo = [iv for iv in withdrawn if iv.end is not None]
    b, f = opts.baseline_months, opts.follow_up_months
    n_months = len(panel.periods)
    base = np.full((len(todo), b), np.nan)
    spread = np.full((len(todo), opts.noise_months), np.nan)
    after = np.full((len(todo), f), np.nan)
    followed = np.zeros(len(todo), dtype=np.int64)
    reasons: list[str | None] = []
    for r, iv in enumerate(todo):
        assert iv.end is not None
        i = index.get(iv.org_code)
        e = panel.month_of(iv.end)
        if i is None:
            reasons.append("no scored values for this organisation")
            continue
        lo = max(0, e - b + 1)
        if e - b + 1 < 0 or e >= n_months:
            reasons.append("the intervention's last months are outside the data")
            continue
        base[r, b - (e + 1 - lo) :] = panel.score[i, lo : e + 1]
        lo_noise = max(0, e - opts.noise_months + 1)
        spread[r, opts.noise_months - (e + 1 - lo_noise) :] = panel.score[i, lo_noise : e + 1]
        stop = e + f
        if next_start is not None and iv.key in next_start:
            stop = min(stop, panel.month_of(next_start[iv.key]) - 1)
        stop = min(stop, n_months - 1)
        if stop > e:
            after[r, : stop - e] = panel.score[i, e + 1 : stop + 1]
            followed[r] = stop - e
        reasons.append(None)
    monitor = relapse_monitor(base, after, opts.relapse, noise=spread)
    out: list[FollowUp] = []
    for r, iv in enumerate(todo):
        assert iv.end is not None
        e = panel.month_of(iv.end)
        reason = reasons[r]
        if reason is None and not np.isfinite(monitor.achieved[r]):
            reason = "fewer than 3 months of the intervention to set the achieved level"
        if reason is not None:
            out.append(
                FollowUp(iv.key, iv.org_code, iv.end, np.nan, np.nan, 0, "not monitored", reason=reason)
            )
            continue
        first = int(monitor.first_alarm[r])
        months = tuple(_month(panel, e + 1 + j) for j in range(int(followed[r])))
        z = tuple(float(v) for v in monitor.z[r, : int(followed[r])])
        if first >= 0:
            signal = "cusum" if monitor.cusum_alarm[r, first] else "shift"
            status, when = "relapse", _month(panel, e + 1 + first)
        else:
            signal, when = None, None
            status = "held" if followed[r] >= f else "holding"
        out.append(
            FollowUp(
                key=iv.key,
                org_code=iv.org_code,
                withdrawal=iv.end,
                achieved=float(monitor.achieved[r]),
                sigma=float(monitor.sigma[r]),
                months_followed=int(followed[r]),
                status=status,
                alarm_month=when,
                signal=signal,
                months=months,
                z=z,
            )
        )
    return out
