"""``preimage atlas``: every unit of every requested layer of a network on one browsable site."""

from .build import Atlas, AtlasLayer, Settings, Store, atlas, default_layers, slug
from .stats import LayerStream, stats_pass

__all__ = ["Atlas", "AtlasLayer", "LayerStream", "Settings", "Store", "atlas", "default_layers", "slug", "stats_pass"]
