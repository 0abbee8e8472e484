"""Analyses that run the package's methods over layers, images and perturbations."""

from .sweep import LayerResult, layer_sweep

__all__ = ["LayerResult", "layer_sweep"]
