"""A classifier that takes [0, 1] images, its normalization inside."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .info import ModelInfo


class Classifier(nn.Module):
    """A model that takes [0, 1] images: it owns the normalization (foolbox's bounds idea), so
    attacks never see the model's own units."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], classes: Optional[int] = None):
        super().__init__()
        self.model = model.eval()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.classes = classes

    @classmethod
    def from_info(cls, info: ModelInfo) -> "Classifier":
        return cls(info.module, info.mean, info.std, len(info.classes) if info.classes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean.to(x.device)) / self.std.to(x.device))
