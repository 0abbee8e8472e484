"""Trained inverters (Dosovitskiy & Brox). So far: the decoder builder; training arrives with issue 5."""

from .decoder import Decoder, build_decoder

__all__ = ["Decoder", "build_decoder"]
