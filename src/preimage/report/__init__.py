"""Every figure and page of the package, drawn from job results; :func:`save` writes a result with them."""

from .figures import grid, heatmap
from .html import figure, img, page, table
from .plot import curve, line_plot
from .present import figures, save

__all__ = ["figure", "figures", "grid", "heatmap", "curve", "img", "line_plot", "page", "save", "table"]
