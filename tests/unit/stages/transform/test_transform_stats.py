"""Streaming per-channel statistics: correct, exact, order-independent."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from stages.transform.stats import ChannelStats, samples_digest


def images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(int(rng.integers(8, 40)), int(rng.integers(8, 40)), 3) for _ in range(count)]
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]


def test_matches_numpy_over_all_pixels() -> None:
    batch = images(12)
    stats = ChannelStats()
    for image in batch:
        stats.add(image)
    pixels = np.concatenate([i.reshape(-1, 3) for i in batch]).astype(np.float64) / 255
    np.testing.assert_allclose(stats.mean(), pixels.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats.std(), pixels.std(axis=0), rtol=0, atol=1e-12)
    assert stats.images == 12
    assert stats.pixels == pixels.shape[0]


def test_order_does_not_change_a_single_bit() -> None:
    batch = images(20, seed=3)
    forward, backward = ChannelStats(), ChannelStats()
    for image in batch:
        forward.add(image)
    for image in reversed(batch):
        backward.add(image)
    assert forward.mean() == backward.mean()
    assert forward.std() == backward.std()


def test_json_document_is_rounded_and_complete() -> None:
    stats = ChannelStats()
    stats.add(np.full((4, 5, 3), (0, 255, 51), dtype=np.uint8))
    stats.add(np.full((4, 5, 3), (255, 255, 0), dtype=np.uint8))
    doc = stats.to_json("train", (4, 5))
    assert doc == {
        "split": "train",
        "count_images": 2,
        "count_pixels": 40,
        "mean": [0.5, 1.0, 0.1],
        "std": [0.5, 0.0, 0.1],
        "image_size": [4, 5],
        "scale": "pixel / 255",
    }


def test_empty_and_malformed_inputs_are_refused() -> None:
    stats = ChannelStats()
    with pytest.raises(ValueError, match="no images were added"):
        stats.mean()
    with pytest.raises(ValueError, match=r"expected uint8 \(H, W, 3\), got float64"):
        stats.add(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"got uint8 \(4, 4\)"):
        stats.add(np.zeros((4, 4), dtype=np.uint8))


def test_samples_digest_is_order_free_and_names_the_exact_ids() -> None:
    expected = hashlib.sha256(b"a-1\nb-2\nc-3\n").hexdigest()
    assert samples_digest(["c-3", "a-1", "b-2"]) == expected
    assert samples_digest(iter(["b-2", "c-3", "a-1"])) == expected
    assert samples_digest(["a-1", "b-2"]) != expected
    assert samples_digest([]) == hashlib.sha256(b"").hexdigest()
