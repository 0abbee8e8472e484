"""Two more CIFAR-10 families, trained here like refnet: a ResNet-20 and a small VGG.

``cifar-resnet`` is He et al.'s ResNet-20 for 32x32 images: a 3x3 stem, three stages of three
basic blocks (16, 32, 64 channels; the first block of stages 2 and 3 halves the resolution),
BatchNorm, residual additions with parameter-free "option A" shortcuts (subsample, then pad the
new channels with zeros) and ``F.relu`` called in ``forward`` - the way most published ResNets are
written, so nothing in it is an ``nn.ReLU`` module. Then global average pooling and one linear
layer.

``cifar-vgg`` is a VGG-style stack: three blocks of two 3x3 convolutions (32, 64, 128 channels)
with BatchNorm and ``nn.ReLU`` modules, max-pooling after each block, and a two-layer fc head.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.pad = cout - cin

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, num_classes: int = 10, depth: int = 20, widths=(16, 32, 64)):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class CifarVGG(nn.Module):
    def __init__(self, num_classes: int = 10, widths=(32, 64, 128), hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        layers, cin = [], 3
        for w in widths:
            for _ in range(2):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(cin * 16, hidden), nn.ReLU(inplace=True),   # 1 fc1, 2 relu_fc1
            nn.Dropout(dropout), nn.Linear(hidden, num_classes),                     # 4 fc2 (logits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


RESNET_ALIASES: Dict[str, str] = {
    "conv1": "conv1", "bn1": "bn1",
    "stage1": "layer1", "stage2": "layer2", "stage3": "layer3",
    **{f"block{s}_{b}": f"layer{s}.{b - 1}" for s in (1, 2, 3) for b in (1, 2, 3)},
    "pool": "pool", "logits": "fc",
}

VGG_ALIASES: Dict[str, str] = {}
for _b in range(3):
    for _c in range(2):
        _i = _b * 7 + _c * 3
        VGG_ALIASES[f"conv{_b + 1}_{_c + 1}"] = f"features.{_i}"
        VGG_ALIASES[f"relu{_b + 1}_{_c + 1}"] = f"features.{_i + 2}"
    VGG_ALIASES[f"block{_b + 1}"] = f"features.{_b * 7 + 6}"     # the block's max-pooling output
VGG_ALIASES.update({"fc1": "classifier.1", "relu_fc1": "classifier.2", "logits": "classifier.4"})


def cifar_resnet(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(num_classes=num_classes)


def cifar_vgg(num_classes: int = 10) -> CifarVGG:
    return CifarVGG(num_classes=num_classes)
