"""Background work: a queue of jobs in the store (:mod:`forewarn.jobs.queue`) and the ``forewarn worker`` process
that runs them (:mod:`forewarn.jobs.worker`): scans, imports and maintenance (:mod:`forewarn.jobs.maintenance`)."""
