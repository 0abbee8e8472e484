import numpy as np
import pytest
import torch
from PIL import Image

from preimage.errors import ImageError
from preimage.images import center_crop, list_images, load_image, resize, resize_crop, save_image, to_grayscale, to_uint8


def test_samples_load_as_float_rgb():
    x = load_image("sample:astronaut")
    assert x.dtype == torch.float32 and x.shape == (3, 512, 512)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert load_image("sample:camera").shape[0] == 3  # grayscale sample becomes RGB


def test_unknown_sample_names_the_valid_ones():
    with pytest.raises(ImageError, match="astronaut"):
        load_image("sample:nope")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA"])
def test_pillow_modes_become_rgb(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    if mode == "I;16":
        img = Image.fromarray((rng.integers(0, 65536, (20, 30))).astype(np.uint16))
    else:
        img = rgb.convert(mode)
    p = tmp_path / f"x_{mode.replace(';', '')}.png"
    img.save(p)
    x = load_image(p)
    assert x.shape == (3, 20, 30) and x.dtype == torch.float32
    assert 0 <= float(x.min()) <= float(x.max()) <= 1


def test_sixteen_bit_keeps_its_range(tmp_path):
    a = np.full((8, 8), 65535, dtype=np.uint16)
    a[0, 0] = 0
    p = tmp_path / "w.png"
    Image.fromarray(a).save(p)
    x = load_image(p)
    assert float(x.max()) == pytest.approx(1.0) and float(x.min()) == 0.0


def test_rgba_composites_on_white(tmp_path):
    a = np.zeros((4, 4, 4), dtype=np.uint8)  # fully transparent black
    p = tmp_path / "t.png"
    Image.fromarray(a, "RGBA").save(p)
    assert torch.allclose(load_image(p), torch.ones(3, 4, 4))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="cannot read image"):
        load_image(bad)


def test_resize_and_crop_shapes():
    x = torch.rand(3, 40, 60)
    assert resize(x, 20).shape == (3, 20, 30)
    assert center_crop(x, 40).shape == (3, 40, 40)
    assert resize_crop(x, 16).shape == (3, 16, 16)
    assert resize(x[None], (10, 12)).shape == (1, 3, 10, 12)
    with pytest.raises(ImageError):
        center_crop(x, 50)


def test_save_roundtrip_is_atomic(tmp_path):
    x = torch.rand(3, 9, 7)
    p = save_image(x, tmp_path / "sub" / "o.png")
    y = load_image(p)
    assert torch.allclose(x, y, atol=1 / 255 / 2 + 1e-6)
    assert [f.name for f in p.parent.iterdir()] == ["o.png"]  # no temporary left behind


def test_grayscale_and_uint8():
    x = torch.rand(3, 5, 5)
    g = to_grayscale(x)
    assert torch.allclose(g[0], g[1]) and torch.allclose(g[1], g[2])
    assert to_uint8(x).shape == (5, 5, 3)


def test_list_images_in_name_order(tmp_path):
    for n in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / n).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    with pytest.raises(ImageError, match="not found"):
        list_images(tmp_path / "none")
    with pytest.raises(ImageError, match="not a folder"):
        list_images(tmp_path / "b.png")
    with pytest.raises(ImageError, match="empty path"):       # not the working directory, searched
        list_images("", recursive=True)


def test_every_listed_sample_loads_offline():
    from preimage.images import SAMPLES, load_image

    for name in SAMPLES:
        assert load_image(f"sample:{name}", 16).shape == (3, 16, 16)
