"""The model, the data and the training loop, as in Flower's PyTorch quickstart.

Data: scikit-learn's bundled 8x8 digits (no download). Label ``l`` is taught mostly by
partition ``l % n``: 80% of its training images go there, the rest to the other
partitions (seeded). A correct prediction thus has a known main responsible client.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

NUM_CLASSES = 10


class Net(nn.Module):
    """A tiny CNN for 1x8x8 images (not one of tracefl's registered models)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(labels, dtype=torch.long)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:300], order[300:]
    return x[train], y[train], x[test], y[test]


def teacher(label: int, num_partitions: int) -> int:
    """The partition that holds most training images of ``label``."""
    return label % num_partitions


def load_data(partition_id: int, num_partitions: int, share: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """The training examples of one partition."""
    x, y, _, _ = _digits()
    rng = np.random.default_rng(1)
    owner = y.numpy() % num_partitions
    moved = rng.random(len(y)) > share
    owner[moved] = (owner[moved] + rng.integers(1, num_partitions, int(moved.sum()))) % num_partitions
    mine = torch.from_numpy(owner == partition_id)
    return x[mine], y[mine]


def load_test() -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out test images, for the server and for explaining."""
    _, _, x, y = _digits()
    return x, y


def train(net: Net, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> float:
    """Local training with Adam; returns the last epoch's mean loss."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    net.train()
    loss_sum = 0.0
    for _ in range(epochs):
        loss_sum, order = 0.0, torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
    return loss_sum / len(y)


def test(net: Net, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``net`` on (x, y)."""
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())
