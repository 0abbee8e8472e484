"""Write a bundled network's model card from its training summary (no number typed by hand).

    python benchmarks/model_card.py cifar-resnet    # reads benchmarks/results/cifar-resnet_training.json

Writes src/preimage/models/weights/NAME.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from preimage.models import load_model
from preimage.models.zoo import MODELS, bundled_path

ROOT = Path(__file__).resolve().parents[1]
#: torch threads the recorded training run used (cifar-resnet: torch's default two, before --threads existed)
THREADS = {"cifar-resnet": 2, "cifar-vgg": 1}
ABOUT = {
    "cifar-resnet": ("He et al.'s ResNet-20 for 32x32 images (`src/preimage/models/cifar_nets.py`): a 3x3 stem (16), "
                     "three stages of three basic blocks (16, 32, 64 channels; stages 2 and 3 halve the resolution), "
                     "BatchNorm, residual additions with parameter-free option-A shortcuts, and `F.relu` called in "
                     "`forward` (no `nn.ReLU` module anywhere), then global average pooling and a linear layer. "
                     "Aliases: `conv1`, `stage1`-`stage3`, `block1_1` ... `block3_3`, `pool`, `logits`."),
    "cifar-vgg": ("A VGG-style network for 32x32 images (`src/preimage/models/cifar_nets.py`): three blocks of two 3x3 "
                  "convolutions (32, 64, 128 channels) with BatchNorm and `nn.ReLU` modules, max-pooling after each "
                  "block, then fc1 (256, dropout 0.3) and the logits. Aliases: `conv1_1` ... `conv3_2`, `relu1_1` ..., "
                  "`block1`-`block3` (the pooled block outputs), `fc1`, `relu_fc1`, `logits`."),
}


def main(name: str) -> None:
    s = json.loads((ROOT / "benchmarks" / "results" / f"{name}_training.json").read_text())
    info = load_model(name)
    params = sum(p.numel() for p in info.module.parameters())
    size = bundled_path(MODELS[name].bundled or "").stat().st_size
    val = s["val"]
    secs = [h["seconds"] for h in s["history"]]
    classes = list(val["per_class_accuracy"])
    card = f"""# Model card: {name}

**What**: {ABOUT[name]} Input: RGB in [0, 1] normalized by the CIFAR-10 mean {tuple(info.mean)} and std
{tuple(info.std)}. {params:,} parameters; `{name}.safetensors` is {size / 1e6:.1f} MB (float32).

**Data**: `../shared/data/cifar10/train` (50,000 JPEG images, 10 classes). Augmentation: random crop with
4-pixel reflection padding, horizontal flip.

**Training command** (seed {s['seed']}, 2 CPU cores, {THREADS.get(name, 1)} torch thread(s)):

    preimage --threads {THREADS.get(name, 1)} train-classifier --data ../shared/data/cifar10/train --arch {name} --epochs {s['epochs']} \\
        --val ../shared/data/cifar10/test --out {name}.safetensors

SGD with Nesterov momentum 0.9, batch {s['batch_size']}, one-cycle learning rate (peak {s['lr']}, 15% warm-up,
linear decay to zero), weight decay {s['weight_decay']} (not on biases or batch-norm), label smoothing
{s['label_smoothing']}.

**Training time**: {s['train_seconds']:,.0f} s ({s['train_seconds'] / 60:.1f} min) for {s['epochs']} epochs, measured while
other work shared the 2 cores (benchmarks, tests): epochs took {min(secs):.0f}-{max(secs):.0f} s; the fastest epochs
are the closest to an unshared run. Per-epoch record: `benchmarks/results/{name}_training.json`.

**Accuracy** on `../shared/data/cifar10/test` (10,000 JPEG images):

    preimage eval-classifier --model {name} --data ../shared/data/cifar10/test

| accuracy | {' | '.join(classes)} |
|---|{'---|' * len(classes)}
| **{100 * val['accuracy']:.2f}%** | {' | '.join(f"{100 * v:.1f}" for v in val['per_class_accuracy'].values())} |

**Use**: a second (and third) family beside refnet, for judging what one network synthesizes with
another, for transfer of adversarial examples and for leakage judged by an independent classifier.
"""
    (ROOT / "src" / "preimage" / "models" / "weights" / f"{name}.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main(sys.argv[1])
