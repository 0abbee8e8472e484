"""Inversion jobs: reconstruct images from a code (``preimage invert``), sweep every layer of a
model (the demo's grid) and the CVPR-2015 protocol (``preimage evaluate``)."""

from .evaluate import Evaluation, evaluate, invert_grayscale
from .reconstruct import METHODS, Reconstruction, check_options, reconstruct
from .sweep import LayerResult, default_layers, layer_sweep

__all__ = ["METHODS", "Evaluation", "LayerResult", "Reconstruction", "check_options", "default_layers", "evaluate",
           "invert_grayscale", "layer_sweep", "reconstruct"]
