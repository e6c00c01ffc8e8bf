"""Learning from peers: statistical neighbours from context (:mod:`.neighbours`) and the positive deviants among
them on an indicator (:mod:`.deviants`). The statistics are :mod:`forewarn.stats.neighbours` and the scan's own
funnel and SPC functions; this package reads the store and names the results."""
