"""`pedigree audit`: data hygiene checks over a project that has run.

One module per concept:
  model          Finding, CheckResult, AuditReport (what the audit reports)
  layout         where the splits live, derived from the spec, params.yaml and splits.json
  prepared       reading provenance.jsonl, splits.json, index.json and stats.json (JSON only)
  graph_hygiene  (a) held-out splits reach only the stages allowed to read them
  splits         (b) no group (the spec's groupKey) and no identical content in two splits
  normalization  (c) the normalisation statistics come from the train split only
  records        (d) every dvc.lock stage has a lineage record whose hashes match
`pedigree.api.audit.audit` runs them. Nothing here imports TensorFlow or click.
"""
