"""refnet: an AlexNet-shaped classifier for 32x32 images, trained here on CIFAR-10.

Five convolutions (conv1 ... conv5) with batch normalization, max pooling after conv1, conv2 and
conv5, then three fully connected layers (fc6, fc7, fc8), laid out like torchvision's AlexNet
(``features`` / ``classifier``) so that the same aliases address the same kind of layer.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class RefNet(nn.Module):
    def __init__(self, num_classes: int = 10, widths: Sequence[int] = (64, 128, 256, 256, 256),
                 hidden: int = 512, dropout: float = 0.25):
        super().__init__()
        c1, c2, c3, c4, c5 = widths

        def conv(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(3, c1), nn.MaxPool2d(2),            # 0 conv1, 1 bn1, 2 relu1, 3 pool1
            *conv(c1, c2), nn.MaxPool2d(2),           # 4 conv2, 5 bn2, 6 relu2, 7 pool2
            *conv(c2, c3),                            # 8 conv3, 9 bn3, 10 relu3
            *conv(c3, c4),                            # 11 conv4, 12 bn4, 13 relu4
            *conv(c4, c5), nn.MaxPool2d(2),           # 14 conv5, 15 bn5, 16 relu5, 17 pool5
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 16, hidden), nn.ReLU(inplace=True),   # 1 fc6, 2 relu6
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),    # 4 fc7, 5 relu7
            nn.Linear(hidden, num_classes),                                          # 6 fc8
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


REFNET_ALIASES: Dict[str, str] = {
    "conv1": "features.0", "bn1": "features.1", "relu1": "features.2", "pool1": "features.3",
    "conv2": "features.4", "bn2": "features.5", "relu2": "features.6", "pool2": "features.7",
    "conv3": "features.8", "bn3": "features.9", "relu3": "features.10",
    "conv4": "features.11", "bn4": "features.12", "relu4": "features.13",
    "conv5": "features.14", "bn5": "features.15", "relu5": "features.16", "pool5": "features.17",
    "fc6": "classifier.1", "relu6": "classifier.2", "fc7": "classifier.4", "relu7": "classifier.5",
    "fc8": "classifier.6",
}


def refnet(num_classes: int = 10) -> RefNet:
    return RefNet(num_classes=num_classes)
