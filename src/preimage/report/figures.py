"""Image grids with labels, built with Pillow (no display needed)."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from ..images import to_uint8


def heatmap(t: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (H, W) non-negative map -> (3, H, W) in [0, 1], mean over channels, scaled to
    its maximum, colored with matplotlib's 'magma'."""
    a = t.detach().float()
    if a.dim() == 3:
        a = a.mean(0)
    a = a / a.max().clamp_min(1e-12)
    rgb = colormaps["magma"](a.cpu().numpy())[..., :3]
    return torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32))


def _upscale(img: np.ndarray, min_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    k = max(1, int(np.ceil(min_side / min(h, w))))
    return img.repeat(k, 0).repeat(k, 1) if k > 1 else img


def grid(rows: Sequence[Sequence[Optional[torch.Tensor]]], col_labels: Optional[Sequence[str]] = None,
         row_labels: Optional[Sequence[str]] = None, min_side: int = 96, pad: int = 4,
         cell_labels: Optional[Sequence[Sequence[str]]] = None) -> np.ndarray:
    """Tile images (each (3, H, W) in [0, 1], or None for a blank) into one uint8 (H, W, 3) array.

    Small images are enlarged by pixel repetition to at least ``min_side``; labels are drawn above
    columns and left of rows; ``cell_labels`` under each image.
    """
    cells = [[None if im is None else _upscale(to_uint8(im), min_side) for im in row] for row in rows]
    ncol = max(len(r) for r in cells)
    cw = max((c.shape[1] for r in cells for c in r if c is not None), default=min_side)
    ch = max((c.shape[0] for r in cells for c in r if c is not None), default=min_side)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    size = FONT_SIZE
    for _ in range(2):  # a wide figure is shown scaled down: its labels are drawn larger to stay legible
        font = label_font(size)
        line = size + size // 4
        heads = [_wrap(str(s), cw, font, measure) for s in (col_labels or [])]
        top = 4 + line * max((len(h) for h in heads), default=0)
        left = max((int(measure.textlength(s, font=font)) for s in row_labels), default=0) + 2 * pad if row_labels else 0
        W = left + ncol * (cw + pad) + pad
        want = max(FONT_SIZE, -(-MIN_SHOWN * W // SHOWN_WIDTH))
        if want <= size:
            break
        size = want
    under = 2 * line + 2 if cell_labels else 0  # a label under an image takes up to two lines
    H = top + len(cells) * (ch + under + pad) + pad
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, head in enumerate(heads[:ncol]):
        for k, text in enumerate(head):
            draw.text((left + pad + j * (cw + pad), 2 + line * k), text, fill=(0, 0, 0), font=font)
    for i, row in enumerate(cells):
        y = top + pad + i * (ch + under + pad)
        if row_labels:
            draw.text((pad, y + ch // 2 - line // 2), row_labels[i], fill=(0, 0, 0), font=font)
        for j, c in enumerate(row):
            if c is None:
                continue
            x = left + pad + j * (cw + pad)
            canvas.paste(Image.fromarray(c), (x + (cw - c.shape[1]) // 2, y + (ch - c.shape[0]) // 2))
            if cell_labels and i < len(cell_labels) and j < len(cell_labels[i]):
                for k, text in enumerate(_wrap(str(cell_labels[i][j]), cw, font, measure)[:2]):
                    draw.text((x, y + ch + 1 + line * k), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


#: label text size in pixels (at least; wide figures draw larger)
FONT_SIZE = 12
#: the narrowest width a page shows a figure at (an 800 px window), and the label height wanted there
SHOWN_WIDTH, MIN_SHOWN = 740, 12


def label_font(size: int = FONT_SIZE):
    """A real (anti-aliased) font for labels, drawn at the size it is shown: DejaVu Sans, which
    matplotlib ships; Pillow's bitmap font only where that is missing."""
    try:
        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)
    except OSError:
        return ImageFont.load_default()


def _wrap(text: str, width: int, font, measure) -> list:
    """Words of ``text`` on lines no wider than ``width`` pixels (a single long word is cut)."""
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if measure.textlength(trial, font=font) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    lines.append(cur)
    out = []
    for line in lines:
        while line and measure.textlength(line, font=font) > width:
            line = line[:-1]
        out.append(line)
    return out
