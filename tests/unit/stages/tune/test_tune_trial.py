"""One real trial in this process: per-epoch reports, early stop, and independence from the
trials that ran before it (the Keras session is cleared and every seed reset per trial).
"""

from __future__ import annotations

import math
from pathlib import Path

from pedigree.stagekit import load_params
from stages.common.training import Hyperparameters, ModelParams
from stages.tune.inputs import open_inputs
from stages.tune.trial import TrialData, run_trial


def test_a_trial_depends_only_on_its_params_and_seed(tune_project: Path) -> None:
    import tensorflow as tf

    # configure() cannot run here (TensorFlow may already be running in this test process and
    # its thread counts are then fixed), but op determinism can still be turned on.
    tf.config.experimental.enable_op_determinism()
    inputs = open_inputs(tune_project / "data" / "prepared")
    model = load_params("model", ModelParams, tune_project / "params.yaml")
    data = TrialData(inputs.train, inputs.validation, inputs.stats, model, data_seed=3)
    first_hp = Hyperparameters(learning_rate=0.01, batch_size=4, base_filters=4, dropout=0.1)
    other_hp = Hyperparameters(learning_rate=0.002, batch_size=2, base_filters=8, dropout=0.0)
    reports: list[tuple[int, float]] = []

    def keep_going(epoch: int, loss: float) -> bool:
        reports.append((epoch, loss))
        return True

    first = run_trial(data, first_hp, seed=11, epochs=2, report=keep_going)
    assert [epoch for epoch, _ in reports] == [0, 1]
    assert first.losses == tuple(loss for _, loss in reports)
    assert all(math.isfinite(loss) for loss in first.losses) and not first.stopped
    assert first.best == min(first.losses)

    # A different trial in between, stopped by its reporter after its first epoch of three.
    stopped = run_trial(data, other_hp, seed=12, epochs=3, report=lambda epoch, loss: False)
    assert (len(stopped.losses), stopped.stopped) == (1, True)

    again = run_trial(data, first_hp, seed=11, epochs=2, report=lambda epoch, loss: True)
    assert again.losses == first.losses  # exactly: nothing leaked from the trial in between
