"""One tuning trial: train a fresh U-Net for some epochs and report validation loss per epoch.

Kept free of Optuna: `run_trial` takes a callback that receives each epoch's validation loss
and says whether to go on, so the study decides about pruning while this module only trains.

Every trial starts from a blank, seeded state (Keras session cleared, then all seeds set to
`seed + number`), so a trial's result depends only on its hyperparameters and number, never on
which trials ran before it in the same process.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stages.common.data import SplitFiles, dataset
from stages.common.training import Hyperparameters, ModelParams, build_and_compile

# Validation always uses this batch size: the soft-Dice part of the loss is computed per batch,
# so validation losses measured with each trial's own batch size would not be comparable.
VALIDATION_BATCH = 16

# Receives (epoch index from 0, validation loss); returns False to stop the trial there.
EpochReport = Callable[[int, float], bool]


@dataclass(frozen=True)
class TrialData:
    """What every trial trains and validates on (opened once, through the stage's SplitReader)."""

    train: SplitFiles
    validation: SplitFiles
    stats: dict[str, Any]
    model: ModelParams
    data_seed: int
    max_train_samples: int | None = None


@dataclass(frozen=True)
class TrialResult:
    """Per-epoch validation losses of a trial, and whether `report` asked it to stop."""

    losses: tuple[float, ...]
    stopped: bool
    seconds: float

    @property
    def best(self) -> float:
        """The lowest validation loss reached (what train's early stopping would keep)."""
        finite = [loss for loss in self.losses if math.isfinite(loss)]
        return min(finite) if finite else math.nan


def trial_seed(base: int, number: int) -> int:
    """The seed of trial `number`: distinct per trial, identical across runs."""
    return base + number


def run_trial(
    data: TrialData,
    hp: Hyperparameters,
    seed: int,
    epochs: int,
    report: EpochReport,
) -> TrialResult:
    """Train a fresh model with `hp` for up to `epochs` epochs, calling `report` after each.

    A non-finite validation loss (a diverged learning rate) ends the trial at once: nothing
    later can recover it, and Optuna must not compare NaN with real losses.
    """
    import keras
    import tensorflow as tf

    # Clear first, then seed: clearing the session resets Keras's global seed generator.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    size = data.model.input_size
    train = dataset(
        tf,
        data.train,
        data.stats,
        size,
        hp.batch_size,
        data.data_seed,
        True,
        limit=data.max_train_samples,
    )
    validation = dataset(
        tf, data.validation, data.stats, size, VALIDATION_BATCH, data.data_seed, False
    )
    # The same learning-rate schedule as train (cosine decay to zero over the whole run), here
    # over the trial's epochs: the learning rate tune picks is judged as train will use it.
    used = (
        data.train.count
        if data.max_train_samples is None
        else min(data.train.count, data.max_train_samples)
    )
    steps_per_epoch = -(-used // hp.batch_size)  # batches per epoch, rounded up
    model = build_and_compile(data.model, hp, decay_steps=steps_per_epoch * epochs)
    losses: list[float] = []
    state = {"stopped": False}

    class Reporter(keras.callbacks.Callback):
        """Hands each epoch's validation loss to `report`; stops training when told to."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            loss = float((logs or {}).get("val_loss", math.nan))
            losses.append(loss)
            if not math.isfinite(loss):
                self.model.stop_training = True
            elif not report(epoch, loss):
                state["stopped"] = True
                self.model.stop_training = True

    started = time.monotonic()
    with warnings.catch_warnings():
        # Keras warns once per trial that a dataset of unknown length "ran out of data" at the
        # end of the first epoch: that is how every epoch of a tf.data pipeline ends, not a fault.
        warnings.filterwarnings(
            "ignore", message="Your input ran out of data", category=UserWarning
        )
        # One fit call (not one per epoch): the training step is traced once per trial.
        model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            callbacks=[Reporter()],
            shuffle=False,  # the pipeline shuffles, seeded; Keras cannot shuffle a tf.data set
            verbose=0,
        )
    seconds = time.monotonic() - started
    del model
    keras.backend.clear_session()  # free this trial's graph and weights before the next one
    return TrialResult(tuple(losses), state["stopped"], seconds)
