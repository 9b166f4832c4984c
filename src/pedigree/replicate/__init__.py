"""`pedigree replicate`: the spec's stages again per seed, or per fold and seed (grouped nested
K-fold), the spread and intervals of the metrics, and the label audit.

Modules, one concept each:
  stats      flattening metrics.json to key paths; mean, sample std, min, max, range, and
             the 95% Student-t interval of the mean; the per fold x seed table
  folds      grouped K-fold assignment, nested inner splits, the per-fold isolation check
  foldruns   the runs (seed-N, fold-F-seed-N), the fold plan from the project's split records
             and each fold's split map
  overrides  --set KEY=VALUE: params changed for the replicates only
  summary    replicates/summary.json: its shape, reading it back, writing it atomically
  workspace  the scratch workspace per run (.pedigree/replicate/<run>/) and its stage runs
  runner     the runs' stages in order, the runs side by side (--jobs)
  outcomes   what each run and stage did (light: the CLI imports it)
  labels     the spec's label audit over the out-of-fold predictions, in its own workspace
  foldaudit  `pedigree audit`'s folds check, from every fold run's lineage records
  isolation  the shared copy of the upstream outputs; the project left untouched
  upstream   what the replicates reuse: upstream outputs checked current, params and code
The API the CLI calls is `pedigree.api.replicate`.
"""
