"""AlexNet and VGG-16 with torchvision's exact module layout and state-dict keys, built here.

No torchvision import: the published torchvision weight files load into these modules unchanged.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


class AlexNet(nn.Module):
    """torchvision.models.AlexNet (the 'one weird trick' variant torchvision ships)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


ALEXNET_ALIASES: Dict[str, str] = {
    "conv1": "features.0", "relu1": "features.1", "pool1": "features.2",
    "conv2": "features.3", "relu2": "features.4", "pool2": "features.5",
    "conv3": "features.6", "relu3": "features.7", "conv4": "features.8", "relu4": "features.9",
    "conv5": "features.10", "relu5": "features.11", "pool5": "features.12",
    "fc6": "classifier.1", "relu6": "classifier.2", "fc7": "classifier.4", "relu7": "classifier.5",
    "fc8": "classifier.6",
}

VGG16_CFG: List = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    """torchvision.models.VGG without batch norm."""

    def __init__(self, cfg: List = VGG16_CFG, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        layers: List[nn.Module] = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg_aliases(cfg: List) -> Dict[str, str]:
    out: Dict[str, str] = {}
    block, k, i = 1, 1, 0
    for v in cfg:
        if v == "M":
            out[f"pool{block}"] = f"features.{i}"
            block, k, i = block + 1, 1, i + 1
        else:
            out[f"conv{block}_{k}"] = f"features.{i}"
            out[f"relu{block}_{k}"] = f"features.{i + 1}"
            k, i = k + 1, i + 2
    out.update({"fc6": "classifier.0", "relu6": "classifier.1", "fc7": "classifier.3",
                "relu7": "classifier.4", "fc8": "classifier.6"})
    return out


VGG16_ALIASES = _vgg_aliases(VGG16_CFG)


def alexnet(num_classes: int = 1000) -> AlexNet:
    return AlexNet(num_classes)


def vgg16(num_classes: int = 1000) -> VGG:
    return VGG(VGG16_CFG, num_classes)
