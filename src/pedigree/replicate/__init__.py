"""`pedigree replicate`: the spec's replicate.stages again per seed, and report the spread.

Modules, one concept each:
  stats      flattening metrics.json to key paths; mean, sample std, min, max, range, and
             the 95% Student-t interval of the mean; the per fold x seed table
  folds      grouped K-fold assignment and nested inner splits for `--folds` (issue 16, not
             wired to the command yet), and the isolation check audit will run per fold
  summary    replicates/summary.json: its shape, reading it back, writing it atomically
  workspace  the scratch workspace per seed (.pedigree/replicate/seed-N/) and its stage runs
  upstream   what the replicates reuse: upstream outputs checked current, params and code
The API the CLI calls is `pedigree.api.replicate`.
"""
