"""Projection and diagnosis jobs: activations projected back to pixels (``preimage project``), the
strongest dataset patches of each channel (``top-activations``) and dead channels (``diagnose``)."""

from ...backward.project import crop_box, receptive_field
from .diagnose import Diagnosis, LayerStats, addressable_layers, diagnose
from .project import Projection, project
from .top import TopActivations, TopK, stream_top, top_activations

__all__ = ["Diagnosis", "LayerStats", "Projection", "TopActivations", "TopK", "addressable_layers", "crop_box",
           "diagnose", "project", "receptive_field", "stream_top", "top_activations"]
