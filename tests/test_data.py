"""The data pipeline: folders and tar shards indexed alike, batches that depend on (seed, rank, step)
only (not on the workers, not on where a run started), corrupt images named, shards per rank, and a
two-process torchrun run over shards that equals its own resume bit for bit."""

import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchrun import torchrun

from preimage.cli import main
from preimage.data import crop_batches, expand_pattern, list_items, make_shards, shard_pattern, split_items, stream_folder
from preimage.errors import ImageError


def _classes(root: Path, per_class: int = 6, classes=("cat", "ship"), side: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            small = (rng.random((5, 5, 3)) * 255).astype(np.uint8)
            img = Image.fromarray(small).resize((side + 8, side), Image.BICUBIC)
            img.save(root / c / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _classes(tmp_path_factory.mktemp("data") / "train")


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("shards") / "train"
    return shard_pattern(make_shards(str(folder), str(prefix), per_shard=3, show=False))


def test_expand_pattern():
    assert expand_pattern("a-{000..002}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar"]
    assert expand_pattern("a-{8..10}.tar") == ["a-8.tar", "a-9.tar", "a-10.tar"]
    assert expand_pattern("{0..1}/b-{00..01}.tar") == ["0/b-00.tar", "0/b-01.tar", "1/b-00.tar", "1/b-01.tar"]
    assert expand_pattern("plain.tar") == ["plain.tar"]


def test_shards_hold_the_folder_image_for_image(folder, shards):
    a, b = list_items(str(folder)), list_items(shards)
    assert len(a) == len(b) == 12 and len(b.shards) == 4
    assert a.labels() == b.labels() == ["cat"] * 6 + ["ship"] * 6
    for i in range(len(a)):
        assert a.read(i) == b.read(i) and torch.equal(a.load(i, 32), b.load(i, 32))
    assert b.name(4).endswith(".tar:000000004.jpg")


def test_shards_are_webdataset_shards(shards):
    wds = pytest.importorskip("webdataset")
    samples = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False).decode("pil"))
    got = [(s["__key__"], int(s["cls"]), s["txt"], s.get("jpg", s.get("png")).size) for s in samples]
    assert [g[1] for g in got] == [0] * 6 + [1] * 6 and [g[2] for g in got] == ["cat"] * 6 + ["ship"] * 6
    assert all(g[3] == (48, 40) for g in got)


def test_each_rank_reads_its_own_shards(shards, folder):
    parts = [list_items(shards, rank=r, world=2) for r in (0, 1)]
    assert not set(parts[0].shards) & set(parts[1].shards)
    assert sorted(parts[0].names + parts[1].names) == sorted(list_items(shards).names)
    assert all(n.split(":")[0] in parts[r].shards for r in (0, 1) for n in parts[r].names)
    with pytest.raises(ImageError, match="4 shard\\(s\\) for 5 processes"):
        list_items(shards, rank=0, world=5)
    f = [list_items(str(folder), rank=r, world=2) for r in (0, 1)]
    assert not set(f[0].names) & set(f[1].names) and len(f[0]) + len(f[1]) == 12


def test_batches_depend_on_seed_rank_and_step_only(folder, shards):
    items = list_items(str(folder))
    run = [x for x, _, _ in crop_batches(items, 32, 5, seed=3, rank=0, start=0, stop=6)]
    resumed = [x for x, _, _ in crop_batches(items, 32, 5, seed=3, rank=0, start=4, stop=6)]
    assert torch.equal(run[4], resumed[0]) and torch.equal(run[5], resumed[1])
    two = [x for x, _, _ in crop_batches(items, 32, 5, seed=3, rank=0, start=0, stop=6, workers=2)]
    assert all(torch.equal(p, q) for p, q in zip(run, two))
    other_rank = next(crop_batches(items, 32, 5, seed=3, rank=1, start=0, stop=1))[0]
    other_seed = next(crop_batches(items, 32, 5, seed=4, rank=0, start=0, stop=1))[0]
    assert not torch.equal(run[0], other_rank) and not torch.equal(run[0], other_seed)
    # the same images as shards give the same batches
    sh = [x for x, _, _ in crop_batches(list_items(shards), 32, 5, seed=3, rank=0, start=0, stop=6)]
    assert all(torch.equal(p, q) for p, q in zip(run, sh))
    assert run[0].shape == (5, 3, 32, 32) and 0 <= float(run[0].min()) and float(run[0].max()) <= 1


def test_stream_is_the_same_with_0_and_2_workers_over_shards(shards):
    a = [(i, x) for i, x in stream_folder(shards, 32, batch=5, workers=0, show=False)]
    b = [(i, x) for i, x in stream_folder(shards, 32, batch=5, workers=2, show=False)]
    assert len(a) == 3 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))


def _corrupt_shard(tmp_path, shards):
    """A copy of the first shard with member 000000001.png replaced by bytes that are no image."""
    src = expand_pattern(shards)[0]
    dst = tmp_path / "bad-000000.tar"
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin:
            data = tin.extractfile(m).read()
            if m.name == "000000001.png":
                data = b"not an image at all"
                m.size = len(data)
            import io

            tout.addfile(m, io.BytesIO(data))
    return str(dst)


def test_a_corrupt_image_in_a_shard_or_a_folder_is_named_or_skipped(tmp_path, shards, folder):
    bad = _corrupt_shard(tmp_path, shards)
    for workers in (0, 2):
        with pytest.raises(ImageError, match="bad-000000.tar:000000001.png") as e:
            list(stream_folder(bad, 32, batch=2, workers=workers, show=False))
        assert "\n" not in str(e.value)  # the error's own line, not the worker's traceback
    s = stream_folder(bad, 32, batch=2, skip_bad=True, show=False)
    assert sum(len(i) for i, _ in s) == 2 and s.skipped == [f"{bad}:000000001.png"]
    items = list_items(bad)
    with pytest.raises(ImageError, match="000000001.png"):
        list(crop_batches(items, 32, 8, seed=0, rank=0, start=0, stop=3))
    out = list(crop_batches(items, 32, 8, seed=0, rank=0, start=0, stop=3, skip_bad=True))
    assert all(x.shape == (8, 3, 32, 32) for x, _, _ in out) and any(skipped for _, skipped, _ in out)
    # in a folder, through the command line: one line naming it, exit 2
    broken = tmp_path / "folder"
    _classes(broken, per_class=3)
    (broken / "cat" / "zz_broken.png").write_bytes(b"\x89PNG broken")
    code = main(["--quiet", "train-inverter", "--model", "hog", "--data", str(broken), "--val", str(folder),
                 "--size", "32", "--steps", "30", "--batch-size", "8", "--width", "8", "--out", str(tmp_path / "x.st")])
    assert code == 2 and not (tmp_path / "x.st").exists()


def test_an_empty_shard_pattern_is_one_clear_line(tmp_path, capsys, folder):
    with pytest.raises(ImageError, match="4 of 4 shard\\(s\\) not found"):
        list_items(str(tmp_path / "none-{0..3}.tar"))
    empty = tmp_path / "empty-0.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(ImageError, match="no images in the shard"):
        list_items(str(empty))
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar file" * 40)
    with pytest.raises(ImageError, match="not a readable tar shard"):
        list_items(str(tmp_path / "junk.tar"))
    for data in (str(tmp_path / "none-{0..3}.tar"), str(empty)):
        code = main(["--quiet", "train-inverter", "--model", "hog", "--data", data, "--val", str(folder), "--size", "32",
                     "--steps", "2", "--out", str(tmp_path / "y.st")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and not (tmp_path / "y.st").exists()
    with pytest.raises(ImageError, match="no images in the shard"):  # shards hold back 5% for validation too
        split_items(str(empty), None, 4)


def test_make_shards_command_refuses_to_overwrite(tmp_path, folder, capsys):
    prefix = str(tmp_path / "s")
    assert main(["--quiet", "make-shards", str(folder), "--out", prefix, "--per-shard", "5"]) == 0
    assert "s-{000000..000002}.tar" in capsys.readouterr().out
    before = Path(prefix + "-000000.tar").read_bytes()
    assert main(["--quiet", "make-shards", str(folder), "--out", prefix, "--per-shard", "5"]) == 2
    assert "exists" in capsys.readouterr().err and Path(prefix + "-000000.tar").read_bytes() == before
    assert main(["--quiet", "make-shards", str(folder), "--out", prefix, "--per-shard", "5", "--force"]) == 0


def _torchrun(args, env):
    r = torchrun(["train-inverter", *args], env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_torchrun_over_shards_equals_its_own_resume_and_ranks_keep_to_their_shards(tmp_path, shards, folder):
    from safetensors.torch import load_file

    env = dict(os.environ, OMP_NUM_THREADS="1")
    common = ["--model", "hog", "--data", shards, "--val", str(folder), "--val-n", "4", "--size", "32", "--steps", "8",
              "--batch-size", "8", "--width", "8", "--workers", "1"]
    full, parts = tmp_path / "full.safetensors", tmp_path / "parts.safetensors"
    _torchrun([*common, "--out", str(full)], env)
    r = _torchrun([*common, "--stop-at", "5", "--out", str(parts)], env)
    assert "stopped after step 5 of 8" in r.stdout and not parts.exists()
    _torchrun([*common, "--resume", "--out", str(parts)], env)
    a, b = load_file(str(full)), load_file(str(parts))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    s = json.loads(full.with_name(full.name + ".json").read_text())
    mine = s["rank_shards"]
    assert s["world_size"] == 2 and s["ranks_in_sync"] and len(mine) == 2
    assert not set(mine[0]) & set(mine[1]) and sorted(mine[0] + mine[1]) == expand_pattern(shards)


def test_streamed_studies_equal_their_in_memory_versions(folder):
    from preimage import metrics
    from preimage.images import to_grayscale
    from preimage.jobs.inversion.evaluate import evaluate, invert_grayscale
    from preimage.jobs.studies import perturb, perturb_study
    from preimage.learned import find_bundled
    from preimage.representations import HOG, build

    ev = evaluate(HOG(), str(folder), n=6, size=32, iters=3, batch=4, show=False)
    items = list_items(str(folder)).evenly_spaced(6)  # --n: evenly spaced in name order, as everywhere
    x = torch.stack([to_grayscale(items.load(i, 32)) for i in range(6)])
    g = invert_grayscale(HOG(), x, iters=3, batch=6, show=False)
    assert torch.allclose(ev.mv_errors, metrics.mv_error(g.phi, g.phi0), rtol=1e-4)
    assert ev.summary["image_error_mean"] == pytest.approx(float(g.image_error.mean()), rel=1e-5)

    rep = build("refnet", "fc6", size=32)
    inv = find_bundled(rep)
    st = perturb_study(rep, inv, str(folder), n=12, batch=5)
    every = list_items(str(folder))
    whole = perturb(rep, inv, torch.stack([every.load(i, 32) for i in range(12)]))
    for mode, errs in whole["image_error"].items():
        assert torch.allclose(torch.tensor(st.record["modes"][mode]["image_error"]), errs, atol=1e-5), mode


def test_a_folder_of_items_is_checked_as_list_images_checks_it(tmp_path):
    """data's walk and images.list_images share one check: an empty path is not the working directory."""
    f = tmp_path / "a.png"
    f.write_bytes(b"x")
    for bad, needle in (("", "empty path"), (str(tmp_path / "nope"), "not found"), (str(f), "not a folder")):
        with pytest.raises(ImageError, match=needle):
            list_items(bad)
