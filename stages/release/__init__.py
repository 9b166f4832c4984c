"""The `release` stage: the champion/challenger gate over the model registry.

Run as `python -m stages.release --params params.yaml --evaluation reports/evaluation.json
--model models/model.keras --calibration models/calibration/calibration.json --lock dvc.lock
--pipeline pets --out models/release`.
Modules, one concept each:
  params    the `release` section of params.yaml, validated strictly
  gate      the decision: absolute thresholds AND beating the champion by a margin (pure)
  candidate what the registry stores about the model: hashes, metrics, git, environment, lineage
  __main__  the stage end to end: register, decide, promote, write release.json and the manifest
The registry itself (event files in git, `release.registry`) and the serving manifest are
`pedigree.registry`'s.
"""
