"""Small CNNs built in the tests (and loadable by the CLI as tests/tiny_models.py:FACTORY)."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """Three conv stages with pooling, then a linear head: conv1 stride 1, conv2 stride 2, conv3 stride 4."""

    preimage_input_size = 32
    preimage_aliases = {"conv1": "features.0", "relu1": "features.1", "pool1": "features.2",
                        "conv2": "features.3", "relu2": "features.4", "pool2": "features.5",
                        "conv3": "features.6", "relu3": "features.7", "pool3": "features.8", "fc": "head"}

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        f = self.features(x)
        return self.head(f.mean((2, 3)))


def tiny():
    torch.manual_seed(0)
    return TinyNet()


def broken():
    raise RuntimeError("cannot build this network")


def not_a_module():
    return 42


def features_only():
    """A model whose output is a feature map, not one score per class."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))


class Blob:
    """An arbitrary Python object: a checkpoint holding it needs unpickling, which preimage refuses."""
