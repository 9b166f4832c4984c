"""A U-Net for 3-class per-pixel segmentation (pet, background, border), built from scratch.

No pretrained weights: nothing is downloaded at run time. Depth, base filters, dropout and input
size come from params.yaml (`model`), and the tuned values from tune's best_params.json.
"""

from __future__ import annotations

from typing import Any

CLASSES = 3  # trimap values 1, 2, 3 become labels 0, 1, 2


def _block(layers: Any, x: Any, filters: int, name: str) -> Any:
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        # Few, small batches: BatchNorm's moving averages must adapt quickly to be usable.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def build_unet(input_size: int, depth: int, base_filters: int, dropout: float) -> Any:
    """A Keras U-Net: `depth` down/up levels, filters doubling per level, logits out."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = _block(layers, x, base_filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"pool{level}")(x)
    x = _block(layers, x, base_filters * 2**depth, "bottom")
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _block(layers, x, filters, f"dec{level}")
    logits = layers.Conv2D(CLASSES, 1, name="logits")(x)
    return keras.Model(inputs, logits, name=f"unet_d{depth}_f{base_filters}")
