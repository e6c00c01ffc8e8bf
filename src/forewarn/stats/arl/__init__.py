"""Average run lengths (ARLs) of control charts, computed rather than looked up, and false alarms over a window.

The ARL is the expected number of observations until a chart signals. In control (ARL0) it sets the
false-alarm rate; after a shift (ARL1) it says how quickly a change is caught. Everything here is a solution
of a linear system (Markov chain or integral equation), so a chart's threshold can be chosen for a target
in-control ARL. One module per family of charts, each re-exported here:

- :mod:`~forewarn.stats.arl.normal_cusum`: normal CUSUM by the integral equation (R ``spc``'s ``xcusum.arl``)
  or the Brook & Evans (1972) Markov chain; :func:`cusum_crit` finds h for a target ARL (``xcusum.crit``);
- :mod:`~forewarn.stats.arl.ewma`: EWMA with fixed or exact time-varying limits (Crowder 1987; ``xewma.arl``);
  :func:`ewma_crit` finds L (``xewma.crit``);
- :mod:`~forewarn.stats.arl.shewhart`: Shewhart chart with Western Electric runs rules (Champ & Woodall 1987;
  ``xshewhartrunsrules.arl``);
- :mod:`~forewarn.stats.arl.count_cusum`: CUSUMs of counts (Poisson, binomial, Bernoulli) on the lattice of
  multiples of 1/m (Lucas 1985; Hawkins 1992), either alarm convention; :func:`poisson_cusum_crit` and
  :func:`binomial_cusum_crit`;
- :mod:`~forewarn.stats.arl.false_alarms`: beyond the average, the normal CUSUM's false alarms over a finite
  window and the threshold for a false-alarm budget (the scan's thresholds).

:mod:`~forewarn.stats.arl.numerics` holds what the solvers share (quadrature, normal density, argument checks).
All ARLs are zero-state (the chart starts at its head start, by default 0, and the shift is present from the
first observation).
"""

from forewarn.stats.arl.count_cusum import (
    AlarmWhen,
    CountCusumThreshold,
    Direction,
    binomial_cusum_arl,
    binomial_cusum_crit,
    poisson_cusum_arl,
    poisson_cusum_crit,
)
from forewarn.stats.arl.ewma import EWMA_NODES, EwmaLimits, ewma_arl, ewma_crit
from forewarn.stats.arl.false_alarms import (
    MIN_THRESHOLD,
    WindowFalseAlarms,
    cusum_window_threshold,
    window_false_alarms,
)
from forewarn.stats.arl.normal_cusum import CUSUM_NODES, CusumMethod, Sided, cusum_arl, cusum_crit
from forewarn.stats.arl.shewhart import WESTERN_ELECTRIC_RULES, RunsRule, shewhart_runs_arl

__all__ = [
    "CUSUM_NODES",
    "EWMA_NODES",
    "MIN_THRESHOLD",
    "WESTERN_ELECTRIC_RULES",
    "AlarmWhen",
    "CountCusumThreshold",
    "CusumMethod",
    "Direction",
    "EwmaLimits",
    "RunsRule",
    "Sided",
    "WindowFalseAlarms",
    "binomial_cusum_arl",
    "binomial_cusum_crit",
    "cusum_arl",
    "cusum_crit",
    "cusum_window_threshold",
    "ewma_arl",
    "ewma_crit",
    "poisson_cusum_arl",
    "poisson_cusum_crit",
    "shewhart_runs_arl",
    "window_false_alarms",
]
