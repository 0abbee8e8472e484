"""Write the bundled inverters' card (src/preimage/learned/weights/README.md) from the files themselves.

Every number comes from the training record stored in each inverter's safetensors metadata (the
summary `preimage train-inverter` wrote): data, steps, batch, training seconds, validation
image_error on held-back images, and the exact command.

    python benchmarks/inverter_card.py
"""

from __future__ import annotations

from preimage import _io
from preimage.learned import bundled_inverters, load_inverter
from preimage.learned.inverter import BUNDLED_DIR

HEAD = """# Bundled inverters

Up-convolutional decoders (Dosovitskiy & Brox; `preimage.learned`) that map a representation's
code back to the image in one pass. Each was trained here, on 2 CPU cores, by the command in its
row (run from the repository root with `../shared/data` beside it), then copied into this folder.
Found automatically by `preimage invert --method learned|hybrid`, `perturb`, `interpolate`,
`sample` and `preimage.learned.find_bundled(rep)`.

Validation image_error is `||x - x0|| / ||x0||` on center crops of images held back from training
(5% of the training folder, at most 256). For `refnet-conv2`, `-conv5`, `-fc6` and `-fc8` these were
the last 256 files of `cifar10/train` in name order (all trucks: the hold-out was made evenly
spaced over the class folders only after they were trained); `refnet-fc7`, `refnet-relu6`, `hog`
and `lbp` hold back evenly spaced files. The evaluation on `cifar10/test` and `imagenet-dev100`,
against optimization, is in BENCHMARKS.md (trained inverters).

Loss: mean squared pixel error (the decoder learns the expected pre-image); Adam, batch 64,
learning rate 1e-3 with a 5% warm-up and a cosine decay; random crops and flips. Hand-crafted
descriptors see the luma only: the color in their reconstructions is the decoder's guess.
Training times are wall time on 2 cores while other work shared the machine (hog's run had it to
itself); the training curves are in `benchmarks/results/inverters/`.

This card is written by `python benchmarks/inverter_card.py` from the files' own metadata.

| file | representation | image | training data | steps | training time | validation image_error | MB |
|---|---|---|---|---|---|---|---|
"""


def main():
    rows, cmds = [], []
    for path in bundled_inverters().values():
        inv = load_inverter(path)
        t = inv.training
        data = str(t.get("data", "")).replace("/work/shared/", "../shared/")
        rows.append(f"| `{path.name}` | {inv.name} | {inv.image_size}x{inv.image_size} | `{data}` ({t.get('train_images')} images) | "
                    f"{t.get('steps')} | {t.get('train_seconds', 0):.0f} s | {t.get('val_image_error', float('nan')):.4f} "
                    f"({t.get('val_images')} images) | {path.stat().st_size / 1e6:.1f} |")
        cmd = str(t.get("command", "")).replace("/work/shared/", "../shared/")
        cmds.append(f"    {cmd}  # then: cp {path.name} src/preimage/learned/weights/")
    text = HEAD + "\n".join(rows) + "\n\nCommands:\n\n" + "\n".join(cmds) + "\n"
    _io.write_text(BUNDLED_DIR / "README.md", text)
    print(text)


if __name__ == "__main__":
    main()
