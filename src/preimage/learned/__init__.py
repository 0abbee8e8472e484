"""Trained inverters (Dosovitskiy & Brox): decoders from a representation's code back to the image.

* :mod:`.decoder`: the up-convolutional decoder, built from the code's shape;
* :mod:`.training`: ``train_inverter`` (random crops, checkpoints, resume, torchrun/DDP);
* :mod:`.inverter`: inverter files (safetensors + metadata), loading with checks, bundled inverters;
* :mod:`.apply`: ``decode`` (one pass) and ``hybrid`` (optimization started from the decoder);
* the feature-space studies that use them live in :mod:`preimage.jobs.studies`.
"""

from .apply import decode, hybrid, resolve_inverter
from .decoder import Decoder, build_decoder
from .inverter import Inverter, bundled_inverters, find_bundled, load_inverter, save_inverter
from .training import train_inverter

__all__ = ["Decoder", "build_decoder", "Inverter", "load_inverter", "save_inverter", "bundled_inverters",
           "find_bundled", "decode", "hybrid", "resolve_inverter", "train_inverter"]
