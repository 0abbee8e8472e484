"""Figures and HTML reports."""

from .figures import grid, heatmap
from .html import figure, img, line_plot, page, table

__all__ = ["grid", "heatmap", "figure", "img", "line_plot", "page", "table"]
