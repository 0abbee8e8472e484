"""Images in and out.

Public images are float32 tensors in [0, 1], shape (N, 3, H, W) (or (3, H, W) for one image).
Anything Pillow reads loads as RGB: gray, RGBA (composited on white), palette, 16-bit and
float TIFFs are all converted. ``sample:NAME`` names a photo that scikit-image ships.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from . import _io
from .errors import ImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

# Images that scikit-image ships (skimage.data.<name>(); motorcycle_left/right: the two views of
# stereo_motorcycle), loadable offline.
SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry",
           "motorcycle_left", "motorcycle_right", "hubble_deep_field", "retina", "camera", "moon", "page",
           "text", "horse", "coins", "clock")
#: the color photographs among them (the default set for normalizing unit activations)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "immunohistochemistry",
          "hubble_deep_field", "retina")


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 (H, W, 3) in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / hi, 0.0, 1.0)
        return np.repeat(a[..., None], 3, axis=2).astype(np.float32)
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = np.clip(a, 0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (a - lo) / max(hi - lo, 1e-12)
        return np.repeat(a[..., None], 3, axis=2).astype(np.float32)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def array_to_tensor(a: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) array (uint8 or float in [0, 1]) -> float32 (3, H, W) tensor."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    else:
        a = a.astype(np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ImageError(f"expected an (H, W) or (H, W, C) array, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4]
        a = a[..., :3] * alpha + (1.0 - alpha)
    elif a.shape[2] != 3:
        raise ImageError(f"expected 1, 3 or 4 channels, got {a.shape[2]}")
    if not np.isfinite(a).all():
        raise ImageError("image contains non-finite values (NaN or inf)")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).clamp_(0.0, 1.0)


def load_sample(name: str) -> torch.Tensor:
    """A photo shipped by scikit-image, e.g. ``astronaut``, ``coffee``, ``chelsea``."""
    import skimage.data

    if name not in SAMPLES:
        raise ImageError(f"unknown sample image {name!r}; valid: {', '.join(SAMPLES)}")
    if name.startswith("motorcycle_"):
        return array_to_tensor(skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1])
    return array_to_tensor(getattr(skimage.data, name)())


def load_image(source: str | os.PathLike, size: Optional[int] = None) -> torch.Tensor:
    """Load one image as a float32 (3, H, W) tensor in [0, 1].

    ``source`` is a file path or ``sample:NAME``. With ``size``, the image is resized so its
    shorter side is ``size`` and center-cropped to ``size`` x ``size``.
    """
    s = str(source)
    if s.startswith("sample:"):
        t = load_sample(s[len("sample:"):])
    else:
        path = Path(s)
        if not path.exists():
            raise ImageError(f"image file not found: {s}")
        if path.is_dir():
            raise ImageError(f"expected an image file, got a directory: {s}")
        t = _decode(path, s)
    if size is not None:
        t = resize_crop(t, size)
    return t


def unreadable(name: str, e: Exception) -> ImageError:
    """The one-line error for an image Pillow cannot read, naming the file (never Pillow's in-memory
    buffer)."""
    if isinstance(e, UnidentifiedImageError):
        why = "not an image format Pillow reads (or the file is damaged)"
    else:
        why = f"{type(e).__name__}: {e}".splitlines()[0]
        why = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the image data", why)
    return ImageError(f"cannot read image {name}: {why}")


def decode_image(data: bytes, name: str, size: Optional[int] = None) -> torch.Tensor:
    """:func:`load_image` for an encoded image held in memory (a member of a tar shard);
    ``name`` is what an error names."""
    t = _decode(io.BytesIO(data), name)
    return resize_crop(t, size) if size is not None else t


def _decode(fp, name: str) -> torch.Tensor:
    try:
        with Image.open(fp) as img:
            img.load()
            a = _pil_to_array(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise unreadable(name, e) from None
    if not np.isfinite(a).all():
        raise ImageError(f"image {name} contains non-finite values")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def resize(img: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Resize (C, H, W) or (N, C, H, W) to ``size`` (int: shorter side; (h, w): exact) with antialiasing."""
    single = img.dim() == 3
    x = img[None] if single else img
    h, w = x.shape[-2:]
    if isinstance(size, int):
        if size <= 0:
            raise ImageError(f"size must be positive, got {size}")
        s = size / min(h, w)
        out_hw = (max(1, round(h * s)), max(1, round(w * s)))
    else:
        out_hw = (int(size[0]), int(size[1]))
    if out_hw != (h, w):
        x = F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
    return x[0] if single else x


def center_crop(img: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Center crop of (..., H, W) to ``size`` (int: square)."""
    th, tw = (size, size) if isinstance(size, int) else size
    h, w = img.shape[-2:]
    if th > h or tw > w:
        raise ImageError(f"cannot crop {h}x{w} image to {th}x{tw}")
    top, left = (h - th) // 2, (w - tw) // 2
    return img[..., top:top + th, left:left + tw]


def resize_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` then center-crop to a square."""
    return center_crop(resize(img, size), size)


def to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601) replicated on three channels, shape preserved."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype, device=img.device).view(3, 1, 1)
    y = (img * w).sum(dim=-3, keepdim=True)
    return y.expand_as(img).contiguous()


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, H, W) float tensor in [0, 1] -> (H, W, 3) uint8 array."""
    if img.dim() == 4:
        if img.shape[0] != 1:
            raise ImageError(f"to_uint8 takes one image, got a batch of {img.shape[0]}")
        img = img[0]
    a = img.detach().float().clamp(0, 1).mul(255).round().byte().cpu().numpy().transpose(1, 2, 0)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def encode_png(img: torch.Tensor | np.ndarray) -> bytes:
    a = to_uint8(img) if isinstance(img, torch.Tensor) else np.asarray(img, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def save_image(img: torch.Tensor | np.ndarray, path: str | os.PathLike) -> Path:
    """Write a PNG atomically (temporary file, then rename)."""
    return _io.write_bytes(path, encode_png(img))


def image_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a path, or one line for an empty path (``Path("")`` would be the working
    directory), a missing folder and a file given as one."""
    if not os.fspath(folder).strip():
        raise ImageError("the image folder is an empty path")
    root = Path(folder)
    if not root.is_dir():
        raise ImageError(f"image folder not found: {folder}" if not root.exists() else f"not a folder: {folder}")
    return root


def list_images(folder: str | os.PathLike, recursive: bool = False) -> List[Path]:
    """Image files in ``folder`` in name order (recursively with ``recursive``)."""
    root = image_folder(folder)
    it: Iterable[Path] = root.rglob("*") if recursive else root.iterdir()
    files = sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def labels_for(sources: Sequence[str]) -> List[str]:
    """Short, unique row labels: the file stem, with its folder (then its position) where stems repeat."""
    def stem(s: str) -> str:
        if ".tar:" in s:  # a member of a tar shard
            return Path(s.split(".tar:", 1)[1]).stem
        return s.split(":", 1)[1] if s.startswith("sample:") else Path(s).stem

    def with_parent(s: str) -> str:
        p = Path(s)
        return f"{p.parent.name}/{p.stem}" if not s.startswith("sample:") and p.parent.name else stem(s)

    out = [stem(s) for s in sources]
    if len(set(out)) < len(out):
        out = [with_parent(s) if out.count(stem(s)) > 1 else stem(s) for s in sources]
    if len(set(out)) < len(out):
        out = [f"{lab} ({i + 1})" if out.count(lab) > 1 else lab for i, lab in enumerate(out)]
    return out


def amplified_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``b - a`` as a picture: gray is no change, scaled so the largest change reaches black or white."""
    diff = b - a
    return (0.5 + diff / (2 * diff.abs().max().clamp_min(1e-12))).clamp(0, 1)
