"""Named models: short names users can type, with normalization, input size and layer aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from torch import nn

from ..errors import WeightsError
from . import cifar_nets as _cn
from . import lenet_zhu as _lenet
from . import refnet as _refnet
from . import torchvision_arch as _tv
from .info import ModelInfo, load_weights


@dataclass
class ZooEntry:
    factory: Callable[[], nn.Module]
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    input_size: int
    aliases: Dict[str, str] = field(default_factory=dict)
    bundled: Optional[str] = None          # file name under preimage/models/weights
    url: Optional[str] = None              # published weights, fetched through torch's hub cache
    classes: Optional[Tuple[str, ...]] = None
    about: str = ""


MODELS: Dict[str, ZooEntry] = {
    "refnet": ZooEntry(_refnet.refnet, _refnet.CIFAR10_MEAN, _refnet.CIFAR10_STD, 32, _refnet.REFNET_ALIASES,
                       bundled="refnet.safetensors", classes=_refnet.CIFAR10_CLASSES,
                       about="AlexNet-shaped CIFAR-10 classifier trained by this project (32x32)"),
    "cifar-resnet": ZooEntry(_cn.cifar_resnet, _refnet.CIFAR10_MEAN, _refnet.CIFAR10_STD, 32, _cn.RESNET_ALIASES,
                             bundled="cifar-resnet.safetensors", classes=_refnet.CIFAR10_CLASSES,
                             about="ResNet-20 (F.relu, residual additions) trained on CIFAR-10 by this project"),
    "cifar-vgg": ZooEntry(_cn.cifar_vgg, _refnet.CIFAR10_MEAN, _refnet.CIFAR10_STD, 32, _cn.VGG_ALIASES,
                          bundled="cifar-vgg.safetensors", classes=_refnet.CIFAR10_CLASSES,
                          about="VGG-style CIFAR-10 network (nn.ReLU, max-pooling, fc head) trained by this project"),
    "alexnet": ZooEntry(_tv.alexnet, _tv.IMAGENET_MEAN, _tv.IMAGENET_STD, 224, _tv.ALEXNET_ALIASES,
                        url=_tv.ALEXNET_URL, about="torchvision AlexNet layout (ImageNet, 224x224)"),
    "vgg16": ZooEntry(_tv.vgg16, _tv.IMAGENET_MEAN, _tv.IMAGENET_STD, 224, _tv.VGG16_ALIASES,
                      url=_tv.VGG16_URL, about="torchvision VGG-16 layout (ImageNet, 224x224)"),
    "lenet-zhu": ZooEntry(_lenet.lenet_zhu, _refnet.CIFAR10_MEAN, _refnet.CIFAR10_STD, 32, _lenet.LENET_ZHU_ALIASES,
                          classes=_refnet.CIFAR10_CLASSES,
                          about="LeNet (Zhu): the sigmoid network of Deep Leakage from Gradients, untrained, weights "
                                "uniform in [-0.5, 0.5] from --seed (no bundled weights)"),
}


def bundled_path(filename: str) -> Path:
    return Path(str(resources.files("preimage.models") / "weights" / filename))


def build(name: str, weights: Optional[str] = None, pretrained: bool = True) -> ModelInfo:
    e = MODELS[name]
    module = e.factory()
    if weights is not None:
        load_weights(module, weights)
    elif pretrained and e.bundled:
        path = bundled_path(e.bundled)
        if not path.is_file():
            raise WeightsError(f"{name}: bundled weights {path} are missing; pass --weights FILE")
        load_weights(module, path)
    elif pretrained and e.url:
        load_weights(module, _download(name, e.url))
    # carried by the module itself (nn.Module types its attributes as tensors and modules, hence the ignore),
    # so that hooks.capture(module, ["conv2"]) and CNNLayer(module, "conv2") find them
    module.preimage_aliases = dict(e.aliases)  # type: ignore[assignment]
    return ModelInfo(module=module, name=name, mean=e.mean, std=e.std, input_size=e.input_size,
                     aliases=dict(e.aliases), classes=e.classes)


def _download(name: str, url: str) -> Path:
    """The published weights through torch's hub cache (``$TORCH_HOME/hub/checkpoints``)."""

    import torch.hub

    fname = url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / fname
    if cached.is_file():
        return cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=fname.rsplit("-", 1)[-1].split(".")[0],
                                       progress=False)
    except Exception as e:
        raise WeightsError(f"{name}: cannot download the published weights ({type(e).__name__}); "
                           f"pass --weights FILE (torchvision format) or --random-weights") from None
    return cached
