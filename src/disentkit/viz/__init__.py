"""Pictures: image grids, dataset sheets, latent traversals and reconstructions."""

from disentkit.viz.grid import image_grid, save_gif, save_png
from disentkit.viz.sheets import factor_sweep_images, factor_sweep_sheet

__all__ = ["factor_sweep_images", "factor_sweep_sheet", "image_grid", "save_gif", "save_png"]
