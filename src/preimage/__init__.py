"""preimage: what an image representation keeps and what it throws away.

The one-liners (:mod:`preimage.api`) return a job's result, which shows itself in Jupyter::

    import preimage
    preimage.invert("refnet", "conv3", "sample:coffee", iters=50)
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

# torch's CPU threads wait for each other in OpenMP (libgomp), which spins about 3 ms at every
# barrier before sleeping. Beside another busy process a spinning thread holds the core its partner
# needs: 2 threads ran 3-4x slower than 1 there. A spin of about 0.1 ms cost nothing measurable on
# the idle machine (BENCHMARKS.md, "Threads"). libgomp reads this once, when torch loads: set only
# if torch is not loaded yet and the user chose no wait policy.
if "torch" not in _sys.modules and not ({"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(_os.environ)):
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from .api import attack, invert, maximize, project
from .errors import PreimageError

__all__ = ["__version__", "PreimageError", "attack", "invert", "maximize", "project"]
