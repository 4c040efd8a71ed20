"""Stored uint8 images -> normalised model input tensors, in one vectorised pass.

Every image model takes RGB 32x32 (docs/algorithm.md section 5), so grey data is repeated to
three channels and everything is resized here, once per process, not per batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tracefl.data.registry import DatasetSpec

# Resize in slices so 50k CIFAR images do not need several full float copies at once.
_CHUNK = 4096


# What every image model takes: RGB, 32x32.
IMAGE_SIZE = 32
IMAGE_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)


def images_to_tensor(x: np.ndarray, spec: DatasetSpec, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Return float32 (N, 3, size, size): RGB, scaled to [0, 1], resized, normalised.

    ``x`` is uint8 (0..255) as stored, or floats already in [0, 1].
    """
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected images (N,H,W) or (N,H,W,C) with C in 1/3/4, got {x.shape}")
    if size < 1:
        raise ValueError(f"size must be a positive integer (key: size), got {size}")
    n, h, w, _ = x.shape
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
    out = torch.empty((n, 3, size, size), dtype=torch.float32)
    for start in range(0, n, _CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(x[start : start + _CHUNK]))
        chunk = chunk.permute(0, 3, 1, 2).to(torch.float32)
        chunk = chunk[:, :3] if chunk.shape[1] >= 3 else chunk.expand(-1, 3, -1, -1)
        if x.dtype == np.uint8:
            chunk = chunk / 255.0
        if (h, w) != (size, size):
            chunk = F.interpolate(
                chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
        out[start : start + _CHUNK] = (chunk - mean) / std
    return out
