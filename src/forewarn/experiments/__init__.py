"""Experiments: a registry from first idea to a result others can find (issue 15).

:mod:`~forewarn.experiments.registry` keeps experiments in the store (locked once started, later changes recorded
as deviations); :mod:`~forewarn.experiments.design` designs and allocates them and
:mod:`~forewarn.experiments.analysis` analyses them, with :mod:`forewarn.stats.experiments`;
:mod:`~forewarn.experiments.padlocks` rates every result's evidence in the EEF's padlock style, and
:mod:`~forewarn.experiments.publish` publishes a result into the practice library.
"""
