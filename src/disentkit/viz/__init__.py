"""Pictures: image grids, dataset sheets, latent traversals and score plots."""

from disentkit.viz.grid import image_grid, save_gif, save_png

__all__ = ["image_grid", "save_gif", "save_png"]
