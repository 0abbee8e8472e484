"""LeNet (Zhu): the sigmoid network of *Deep Leakage from Gradients* (Zhu, Liu and Han, NeurIPS 2019),
also the untrained network of *Inverting Gradients* (Geiping et al., NeurIPS 2020), Table 1.

Three 5x5 convolutions with 12 channels (strides 2, 2, 1, padding 2), each followed by a sigmoid,
and one linear layer from the 12 x 8 x 8 = 768 features of a 32 x 32 image to the classes. Every
weight and bias is drawn uniformly from [-0.5, 0.5] (the papers' initialization) from the random
state the network is built under - :func:`preimage.models.load_model` seeds it with ``--seed`` - so
the same seed gives the same network. No weights are bundled: the papers attack it untrained.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

#: the papers' weight range: every weight and bias uniform in [-INIT, INIT]
INIT = 0.5

LENET_ZHU_ALIASES: Dict[str, str] = {
    "conv1": "body.0", "act1": "body.1", "conv2": "body.2", "act2": "body.3", "conv3": "body.4", "act3": "body.5",
    "fc": "fc", "logits": "fc",
}


class LeNetZhu(nn.Module):
    def __init__(self, num_classes: int = 10, channels: int = 12, size: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(channels, channels, 5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(channels, channels, 5, stride=1, padding=2), nn.Sigmoid(),
        )
        side = (size + 3) // 4
        self.fc = nn.Linear(channels * side * side, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-INIT, INIT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


def lenet_zhu(num_classes: int = 10) -> LeNetZhu:
    return LeNetZhu(num_classes)
