"""Finding a dataset's original file: from ``path=`` or under the folder ``$DISENTKIT_DATA``."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DISENTKIT_DATA"


def find_data(path: str | os.PathLike | None, relative: str, what: str, source: str, is_dir: bool = False) -> Path:
    """Locate the file (or folder, if ``is_dir``) of a dataset.

    Parameters
    ----------
    path: the file itself, the folder holding it, or a data root holding ``relative``; ``None``
        looks for ``$DISENTKIT_DATA/relative``.
    relative: the conventional location under the data root, e.g. ``"3dshapes/3dshapes.h5"``.
    what: the dataset's name, for messages.
    source: where to get the file, for messages.

    Raises
    ------
    FileNotFoundError: naming every place searched, ``$DISENTKIT_DATA`` and ``source``.
    """
    rel = Path(relative)
    if path is None:
        root = os.environ.get(DATA_ENV)
        if not root:
            raise FileNotFoundError(
                f"no path given for {what} and ${DATA_ENV} is not set: pass path= or set {DATA_ENV} to "
                f"the folder that holds {relative}. Get the data from {source}"
            )
        candidates = [Path(root) / rel]
    else:
        given = Path(path).expanduser()
        # a folder: the data root (holding ``relative``) first, then the folder itself
        candidates = [given / rel, given] if is_dir else [given, given / rel.name, given / rel]
    for candidate in candidates:
        if (candidate.is_dir() if is_dir else candidate.is_file()):
            return candidate
    searched = ", ".join(str(c) for c in dict.fromkeys(candidates))
    via = f" (from ${DATA_ENV})" if path is None else ""
    raise FileNotFoundError(
        f"{what}: no {'folder' if is_dir else 'file'} found at {searched}{via}. Pass path= or set "
        f"{DATA_ENV} to the folder that holds {relative}. Get the data from {source}"
    )
