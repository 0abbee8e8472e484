"""preimage: what an image representation keeps and what it throws away.

The one-liners (:mod:`preimage.api`) return a job's result, which shows itself in Jupyter::

    import preimage
    preimage.invert("refnet", "conv3", "sample:coffee", iters=50)
"""

__version__ = "0.1.0"

from .api import attack, invert, maximize, project
from .errors import PreimageError

__all__ = ["__version__", "PreimageError", "attack", "invert", "maximize", "project"]
