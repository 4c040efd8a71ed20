"""A small CNN without BatchNorm: the fast, well-behaved baseline of the quick preset."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks and two linear layers for 3x32x32 inputs.

    No BatchNorm on purpose: under non-IID FedAvg, averaged BatchNorm statistics slow
    learning down a lot, and this model is the one that must reach high accuracy fast.
    16 channels, then 32: a training step (batch 32, one thread) takes a quarter of the
    time it took at 32 and 64 (10.4 vs 40.7 ms), and the quick preset's MNIST 5k runs
    learned as well (alpha 0.3, 15 rounds, 4 a round: 80.0% vs 81.0% final; docs/performance.md).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16, hidden: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * 8 * 8, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class TinyCNN(SmallCNN):
    """The small CNN at a quarter of the width: for tests and smoke runs."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, width=8, hidden=32)
