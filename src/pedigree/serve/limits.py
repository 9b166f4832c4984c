"""The request limits of the model server (kept import-free: `pedigree --help` may see it)."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one inference request may hold; anything larger is refused with a 4xx.

    - `max_images` (64): images (encoded files or pixel arrays) in one request.
    - `max_image_bytes` (16 MiB): bytes of one encoded image file, and of one decoded pixel
      array (height x width x 3), so a pixel tensor is bounded like a file.
    - `max_body_bytes` (64 MiB): bytes of one request body, refused with 413 before the body
      is parsed (a declared Content-Length over it, or once the streamed bytes pass it).
    """

    max_images: int = 64
    max_image_bytes: int = 16 * MIB
    max_body_bytes: int = 64 * MIB

    def __post_init__(self) -> None:
        for name in ("max_images", "max_image_bytes", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")
