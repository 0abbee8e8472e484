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
