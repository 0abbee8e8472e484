"""preimage: what an image representation keeps and what it throws away."""

__version__ = "0.1.0"

from .errors import PreimageError  # noqa: F401
