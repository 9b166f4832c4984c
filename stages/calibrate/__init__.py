"""The `calibrate` stage: fit a softmax temperature on the calibration split.

Run as `python -m stages.calibrate --params params.yaml --prepared data/prepared
--model models/model.keras --out models/calibration`.
Modules, one concept each:
  params       the `calibrate` section of params.yaml, validated strictly
  temperature  temperature scaling: bounded scalar search of the per-pixel NLL (numpy/scipy)
  reliability  reliability curves and ECE before/after, and the reliability.csv plots file
  collect      running the model over the calibration split, with a seeded pixel subsample
  __main__     the stage end to end, written atomically
Nothing heavy is imported here: TensorFlow is imported only once the stage has configured
determinism (see stages.common.determinism).
"""
