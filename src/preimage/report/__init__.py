"""Figures and HTML reports."""

from .figures import grid, heatmap

__all__ = ["grid", "heatmap"]
