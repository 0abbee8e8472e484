import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchrun import torchrun

from preimage.cli import main
from preimage.models import load_model, read_state_dict

HERE = Path(__file__).parent
TINY = f"{HERE / 'tiny_models.py'}:tiny"


def _folder(root: Path, per_class=6, size=32):
    rng = np.random.default_rng(0)
    for c in range(10):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            a[..., c % 3] = 25 * c  # a class cue the network can pick up
            Image.fromarray(a).save(d / f"{i}.png")
    return root


def test_train_resume_equals_straight_run_and_eval(tmp_path, capsys):
    from preimage.models.training import train_classifier

    data = _folder(tmp_path / "data")
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    base = ["train-classifier", "--data", str(data), "--arch", TINY, "--batch-size", "20", "--epochs", "2", "--quiet"]
    assert main(base + ["--out", str(a)]) == 0

    def interrupt_after_first_epoch(msg):
        if msg.startswith("epoch 1/2"):
            raise KeyboardInterrupt
    from preimage.cli import default_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(default_threads())  # as main() runs it: bit-exact resume needs the same kernels
    try:
        with pytest.raises(KeyboardInterrupt):
            train_classifier(load_model(TINY), str(data), str(b), epochs=2, batch_size=20,
                             log=interrupt_after_first_epoch, show=False)
    finally:
        torch.set_num_threads(threads)
    assert not b.exists() and torch.load(str(b) + ".ckpt", weights_only=True)["epoch"] == 1
    assert main(base[:-3] + ["--epochs", "3", "--out", str(b), "--resume", "--quiet"]) == 2  # wrong schedule
    assert main(base + ["--out", str(b), "--resume"]) == 0
    sa, sb = read_state_dict(a), read_state_dict(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    capsys.readouterr()
    code = main(["eval-classifier", "--model", TINY, "--weights", str(a), "--data", str(data), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    r = json.loads(out)
    assert r["n"] == 60 and len(r["confusion_matrix"]) == 10 and sum(map(sum, r["confusion_matrix"])) == 60
    assert 0.0 <= r["accuracy"] <= 1.0 and set(r["per_class_accuracy"]) == {f"class{c}" for c in range(10)}


def test_training_learns_the_class_cue(tmp_path):
    from preimage.models.training import evaluate_classifier, train_classifier

    data = _folder(tmp_path / "data", per_class=10)
    info = load_model(TINY)
    s = train_classifier(info, str(data), str(tmp_path / "w.safetensors"), epochs=10,
                         batch_size=20, lr=0.05, log=lambda m: None, show=False)
    losses = [h["loss"] for h in s["history"]]
    assert losses[-1] < 0.85 * losses[0]
    # ten classes: chance is 0.1; the color cue is learnable (0.41 measured with seed 0)
    assert evaluate_classifier(info, str(data), show=False)["accuracy"] >= 0.3
    assert not (tmp_path / "w.safetensors.ckpt").exists()  # removed after success


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    code = main(["train-classifier", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "w.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "not found" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_two_processes_train_a_classifier_on_their_own_halves(tmp_path):
    data = _folder(tmp_path / "data", per_class=4)
    out = tmp_path / "ddp.safetensors"
    r = torchrun(["train-classifier", "--data", str(data), "--arch", TINY, "--batch-size", "10", "--epochs", "2",
                  "--workers", "1", "--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(out.with_name(out.name + ".json").read_text())
    assert s["world_size"] == 2 and s["ranks_in_sync"] and s["train_images"] == 20  # 40 images, half each
    assert r.stdout.count("wrote ") == 1


def test_the_one_training_loop_stops_resumes_and_checkpoints_in_steps_or_epochs(tmp_path):
    from preimage.errors import DivergedError
    from preimage.trainkit import Checkpoint, Trainer

    def batches(first, stop):  # the batch of step s depends on s only
        for s in range(first, stop):
            x = torch.randn(4, 3, generator=torch.Generator().manual_seed(s))
            yield x, x.sum(1, keepdim=True), 0.0

    def train(path, epoch_steps=None, lr=0.1, **kw):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(3, 1))  # dropout draws the global RNG
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        run = Trainer(log=lambda m: None, show=False)
        epochs_seen = []
        run.fit(net, opt, lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), batches, lambda s: lr * (1 - s / 12), 12,
                Checkpoint(path, {"run": 1}), epoch_steps=epoch_steps, evaluate=lambda done: {"done": done},
                epoch_end=epochs_seen.append, keep_rng=True,
                **({} if epoch_steps else {"evaluate_every": 4, "checkpoint_every": 5}), **kw)
        run.finish()
        return net, run, epochs_seen

    for epoch_steps, unit, stop in ((None, "step", 7), (4, "epoch", 8)):
        a, ra, ea = train(tmp_path / f"{unit}-a.ckpt", epoch_steps)
        assert [h["done"] for h in ra.history] == [4, 8, 12] and ra.elapsed > 0 and ra.first_step is not None
        ck = torch.load(str(tmp_path / f"{unit}-a.ckpt"), weights_only=True)
        assert list(ck) == ["model", "optimizer", "torch_rng", unit, "history", "elapsed", "settings"]
        assert ck[unit] == (3 if epoch_steps else 12) and ea == ([1, 2, 3] if epoch_steps else [])
        _, rb, _ = train(tmp_path / f"{unit}-b.ckpt", epoch_steps, end=stop)  # stops early with a checkpoint
        assert torch.load(str(tmp_path / f"{unit}-b.ckpt"), weights_only=True)[unit] == (2 if epoch_steps else 7)
        b, rb, eb = train(tmp_path / f"{unit}-b.ckpt", epoch_steps, resume=True)
        assert rb.start == (8 if epoch_steps else 7)
        assert [h["done"] for h in rb.history] == [4, 8, 12] and eb == ([3] if epoch_steps else [])
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), unit
    with pytest.raises(ValueError, match="epochs of 4 steps"):
        train(tmp_path / "c.ckpt", 4, end=6)
    with pytest.raises(DivergedError, match="training diverged at step"):
        train(tmp_path / "d.ckpt", lr=1e30)
    assert not (tmp_path / "d.ckpt").exists()
