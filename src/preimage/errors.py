"""Typed exceptions. Every error a user can cause is a :class:`PreimageError`.

The CLI prints ``preimage: error: <message>`` on one line and exits with code 2 for any of them.
Messages name the offending value and what would have been valid.
"""

from __future__ import annotations


class PreimageError(ValueError):
    """Base class of every user-facing error raised by preimage."""

    #: raised on every torchrun rank for one rank's failure (``trainkit.agree``): rank 0 alone prints it
    shared = False


class ImageError(PreimageError):
    """An image file is missing, unreadable, or has an unusable shape or value."""


class ModelError(PreimageError):
    """A model spec cannot be resolved, or its factory fails."""


class WeightsError(PreimageError):
    """A weights file is missing, unsafe, or does not fit the model."""


class LayerError(PreimageError):
    """A layer name is unknown for the given model."""


class ConfigError(PreimageError):
    """An option value is out of range or inconsistent with the others."""


class NotDifferentiableError(PreimageError):
    """A gradient-based method was asked of a non-differentiable representation."""


class DivergedError(PreimageError):
    """The optimization's energy became non-finite (the step size is too large for this problem)."""


class OutputError(PreimageError):
    """An output path cannot be written, is busy, or holds files this command would not own."""
