import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# One thread: on 2 cores with anything else running, torch's default two threads ran the suite's
# optimization tests 5-10x slower (BENCHMARKS.md, "Threads"); results do not depend on it.
torch.set_num_threads(1)
os.environ.setdefault("PREIMAGE_THREADS", "1")  # what the preimage command uses when --threads is not given

from tiny_models import tiny  # noqa: E402


@pytest.fixture(autouse=True)
def _same_random_state():
    """Every test starts from the same global random state, whatever ran before it in its process
    (under pytest-xdist that depends on how the tests were shared out)."""
    import random

    import numpy as np

    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture
def tiny_model():
    return tiny()


@pytest.fixture(scope="session")
def photos64():
    from preimage.images import load_image

    return torch.stack([load_image(f"sample:{n}", 64) for n in ("astronaut", "coffee", "chelsea", "rocket")])


@pytest.fixture(scope="session")
def photos32():
    from preimage.images import load_image

    return torch.stack([load_image(f"sample:{n}", 32) for n in ("astronaut", "coffee", "chelsea", "rocket")])


def class_folder(root: Path, classes=("cat", "ship"), per_class: int = 3, size: int = 32, seed: int = 0,
                 ext: str = "png", names: str = "000{i}") -> Path:
    """``root/<class>/<name>.<ext>``: ``per_class`` random RGB images of ``size`` pixels a side per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / c / f"{names.format(i=i)}.{ext}")
    return root
