"""The pets predictor behind the model server (spec.serve.predictor: `stages.serve`).

`load(files, params)` returns a `PetsPredictor` (the pedigree.stagekit.Predictor contract): it
turns encoded images or uint8 RGB pixel arrays into the mask the evaluate stage computes for
them and the calibrated class probabilities. Modules, one concept each:
  inputs     request inputs -> uint8 RGB pixels at the stored size (decode, limits, resize)
  artefacts  the files and params the server hands over: stats.json, calibration.json, params
  predictor  the predictor: parse_fn's normalisation, the model, calibration, the mask
TensorFlow is imported by `load` only: importing this package stays light.
"""

from stages.serve.predictor import PetsPredictor, load

__all__ = ["PetsPredictor", "load"]
