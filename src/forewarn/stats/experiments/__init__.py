"""Statistics of experiments: power and sample size, allocation, and the analyses matched to each design.

Each module is pure (arrays and data frames in, frozen dataclasses out) and names the published result it is checked
against (docs/experiments.md lists every comparison):

- :mod:`~forewarn.stats.experiments.power`: individual (statsmodels' ``NormalIndPower``/``TTestIndPower``), cluster
  (design effect ``1 + (m - 1) ICC``) and stepped-wedge (Hussey & Hughes 2007) power and sample size.
- :mod:`~forewarn.stats.experiments.allocation`: seeded, optionally stratified randomisation with its audit record.
- :mod:`~forewarn.stats.experiments.means`: difference in means with confidence intervals; cluster-robust regression.
- :mod:`~forewarn.stats.experiments.its`: interrupted time series by segmented regression (Bernal et al. 2017).
- :mod:`~forewarn.stats.experiments.synth`: synthetic control with in-space placebos (Abadie et al. 2010).
- :mod:`~forewarn.stats.experiments.staggered`: difference-in-differences with staggered adoption (Callaway &
  Sant'Anna 2021).
"""
