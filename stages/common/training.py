"""What tune and train share: the model params, building and compiling, and evaluating.

Both stages build the same U-Net from the same hyperparameters, so a trial in tune and the final
training in train differ only in how long they run and what they keep.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stages.common.metrics import confusion, scores, segmentation_loss
from stages.common.unet import CLASSES, build_unet


class ModelParams(BaseModel):
    """params.yaml `model`: the architecture's fixed shape and its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_size: int = Field(ge=16, le=1024, multiple_of=16)
    depth: int = Field(ge=1, le=5)
    base_filters: int = Field(ge=4, le=128)
    dropout: float = Field(ge=0.0, lt=1.0)
    dice_weight: float = Field(ge=0.0, le=10.0)


class Hyperparameters(BaseModel):
    """What tune chooses and train uses (best_params.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(gt=0, lt=1)
    batch_size: int = Field(ge=1, le=1024)
    base_filters: int = Field(ge=4, le=128)
    dropout: float = Field(ge=0.0, lt=1.0)


def build_and_compile(
    model_params: ModelParams, hp: Hyperparameters, decay_steps: int | None = None
) -> Any:
    """A compiled U-Net for these params (Adam, CE + soft Dice).

    With `decay_steps`, the learning rate follows a cosine decay to zero over that many steps:
    late epochs take small steps, so validation scores settle instead of jumping.
    """
    import keras

    model = build_unet(model_params.input_size, model_params.depth, hp.base_filters, hp.dropout)
    rate: Any = hp.learning_rate
    if decay_steps:
        rate = keras.optimizers.schedules.CosineDecay(hp.learning_rate, decay_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=segmentation_loss(model_params.dice_weight),
    )
    return model


def evaluate_segmentation(model: Any, data: Any) -> dict[str, Any]:
    """Mean/per-class IoU, Dice and pixel accuracy of `model` on a batched dataset (argmax)."""
    matrix = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    for images, labels in data:
        logits = model(images, training=False)
        predicted = np.argmax(np.asarray(logits), axis=-1)
        matrix += confusion(np.asarray(labels), predicted, CLASSES)
    result = scores(matrix)
    result["confusion"] = matrix.tolist()
    return result


def iou_callback(model_data: Any, history: list[dict[str, Any]]) -> Any:
    """A Keras callback adding validation mean IoU (argmax) to each epoch's logs."""
    import keras

    class ValidationIoU(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            result = evaluate_segmentation(self.model, model_data)
            if logs is not None:
                logs["val_mean_iou"] = result["mean_iou"]
            history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})

    return ValidationIoU()
