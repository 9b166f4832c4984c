"""The `evaluate` stage: measure the calibrated model on the test split and write the report.

Run as `python -m stages.evaluate --params params.yaml --prepared data/prepared
--model models/model.keras --calibration models/calibration/calibration.json
--train models/train --lock dvc.lock --replicates replicates/summary.json
--labels reports/label_issues.json --out reports`.
Modules, one concept each:
  params         the `evaluate` section of params.yaml, validated strictly
  inputs         reading calibration.json, history.csv and train.json, with clear errors
  compute        streamed metrics: confusion matrix, IoU/Dice, reliability, ECE, NLL, examples
  inference      running the model over the test split (the only split evaluate may read)
  outputs        metrics.json, evaluation_result.csv and evaluation.json
  predictions    predictions/: every test image's calibrated probabilities, label and pixels
                 (pedigree.predictions/v1, read by the label audit)
  provenance     artefact hashes, dvc.lock outputs, git state, interpreter and libraries
  tables         the report's Markdown tables and sentences
  figures        the report's matplotlib figures
  replicates     the Replicates section: the spread over seeds or folds (replicates/summary.json)
  labels         the Label audit section (reports/label_issues.json)
  report         running evaluate.ipynb with papermill, normalising it, exporting the HTML
  evaluate.ipynb the report notebook (its cells call the modules above, then display)
  __main__       the stage end to end, written atomically
Nothing heavy is imported here: TensorFlow is imported only inside the notebook's kernel, once
it has configured determinism (see stages.common.determinism).
"""
