"""Readers for the original dataset files, used by :mod:`disentkit.data.loaders`.

- :mod:`.arraydata`: :class:`ArrayGroundTruthData`, a dataset gathering stored images by grid index;
- :mod:`.npz`: one array of an ``.npz`` archive, memory-mapped or streamed, never unpickled;
- :mod:`.norb`: the NORB binary-matrix format;
- :mod:`.resize`: Pillow-exact Lanczos resizing of whole image batches;
- :mod:`.paths`: finding a dataset's file from ``path=`` or ``$DISENTKIT_DATA``.
"""
