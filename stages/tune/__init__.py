"""The tune stage: search the U-Net's hyperparameters with Optuna on train + validation only."""
