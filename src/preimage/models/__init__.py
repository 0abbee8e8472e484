"""The model zoo and model loading."""

from .loading import ModelInfo, load_model, load_weights, read_state_dict
from .zoo import MODELS

__all__ = ["ModelInfo", "load_model", "load_weights", "read_state_dict", "MODELS"]
