"""The dataset name registry: ``get(name, **params)`` and ``names()``.

Entries are resolved lazily (``"module:attribute"``) so that listing names imports nothing heavy.
A dataset that can also be read from its original file accepts ``path=`` (or
``source="file"`` to look under ``$DISENTKIT_DATA``); see :mod:`disentkit.data.loaders`.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from disentkit.data.base import GroundTruthData
from disentkit.validation import check_choice


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset: its procedural factory and/or its file loader."""

    name: str
    description: str
    factory: str | None = None  # "module:attr", procedural (no file needed)
    loader: str | None = None  # "module:attr", reads the original file
    factors: str = ""  # factor summary for file-only datasets (shown before a file is read)


_M = "disentkit.data"
_ENTRIES: dict[str, DatasetEntry] = {}


def register(entry: DatasetEntry) -> None:
    """Add a dataset to the registry (an existing name is replaced)."""
    if entry.factory is None and entry.loader is None:
        raise ValueError(f"dataset {entry.name!r} needs a factory or a loader")
    _ENTRIES[entry.name] = entry


for _entry in (
    DatasetEntry("dsprites", "dSprites: 2D shapes, 5 factors (Matthey et al. 2017)",
                 f"{_M}.dsprites:dsprites", f"{_M}.loaders:dsprites_file"),
    DatasetEntry("dsprites_noshape", "dSprites with shape as a nuisance factor",
                 f"{_M}.dsprites:dsprites_noshape", f"{_M}.loaders:dsprites_noshape_file"),
    DatasetEntry("color_dsprites", "dSprites, sprite in a random colour (Locatello et al. 2019)",
                 f"{_M}.dsprites_variants:color_dsprites"),
    DatasetEntry("noisy_dsprites", "dSprites, white sprite on uniform noise",
                 f"{_M}.dsprites_variants:noisy_dsprites"),
    DatasetEntry("scream_dsprites", "dSprites on a textured background, sprite inverted",
                 f"{_M}.dsprites_variants:scream_dsprites"),
    DatasetEntry("shapes3d", "3D shapes: a room with a shaded object, 6 factors (Burgess & Kim 2018)",
                 f"{_M}.shapes3d:shapes3d", f"{_M}.loaders:shapes3d_file"),
    DatasetEntry("xysquares", "three coloured squares on a grid (Michlo et al. 2023)",
                 f"{_M}.xysquares:xysquares"),
    DatasetEntry("xyobject", "one square of a given colour and scale on a grid (Michlo et al. 2023)",
                 f"{_M}.xysquares:xyobject"),
    DatasetEntry("pendulum", "a pendulum and a light casting a shadow, a causal graph over 4 continuous "
                 "factors (CausalVAE / DEAR; Yang et al. 2021, Shen et al. 2022)",
                 f"{_M}.pendulum:pendulum"),
    DatasetEntry("pulse_signals", "1-D trapezoidal pulses, duty cycle x rise time (a Beamsynthesis stand-in, NashAE)",
                 f"{_M}.pulses:pulse_signals"),
    DatasetEntry("two_digits", "two handwritten digits side by side, with occlusion (CMI minimisation, Funke et al. "
                 "2022); scikit-learn's bundled digits, or the MNIST idx files with path=",
                 f"{_M}.two_digits:two_digits", f"{_M}.two_digits:two_digits_mnist"),
    DatasetEntry("mpi3d_toy", "MPI3D toy renderings (Gondal et al. 2019); file only",
                 loader=f"{_M}.loaders:mpi3d_toy",
                 factors="object_color=4|6 object_shape=4|6 object_size=2 camera_height=3 background_color=3 first_dof=40 second_dof=40"),
    DatasetEntry("mpi3d_realistic", "MPI3D realistic renderings; file only",
                 loader=f"{_M}.loaders:mpi3d_realistic",
                 factors="object_color=4|6 object_shape=4|6 object_size=2 camera_height=3 background_color=3 first_dof=40 second_dof=40"),
    DatasetEntry("mpi3d_real", "MPI3D real-world photographs; file only",
                 loader=f"{_M}.loaders:mpi3d_real",
                 factors="object_color=6 object_shape=6 object_size=2 camera_height=3 background_color=3 first_dof=40 second_dof=40"),
    DatasetEntry("smallnorb", "SmallNORB toys (LeCun et al. 2004); file only",
                 loader=f"{_M}.loaders:smallnorb",
                 factors="category=5 elevation=9 azimuth=18 lighting=6 (instance is a nuisance)"),
    DatasetEntry("cars3d", "Cars3D renderings (Reed et al. 2015); file only",
                 loader=f"{_M}.loaders:cars3d",
                 factors="elevation=4 azimuth=24 object_type=183"),
    DatasetEntry("celeba", "CelebA aligned faces (Liu et al. 2015), a labelled image set (not a full grid); file only",
                 loader=f"{_M}.files.celeba:CelebA",
                 factors="5_o_Clock_Shadow=2 .. Young=2 (40 binary attributes; observed combinations only)"),
    DatasetEntry("dummy", "uniform noise images, 10 factors of 5 values (for tests)",
                 f"{_M}.base:DummyData"),
):
    register(_entry)


def names() -> list[str]:
    """The registered dataset names, in registration order."""
    return list(_ENTRIES)


def entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; a ValueError lists the valid names."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(names())}") from None


def _resolve(target: str) -> Callable[..., GroundTruthData]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def _check_names(factory: Callable[..., GroundTruthData], name: str, params: dict[str, Any]) -> None:
    sig = inspect.signature(factory)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    unknown = sorted(set(params) - set(sig.parameters))
    if unknown:
        valid = [p for p in sig.parameters if p != "self"]
        raise ValueError(f"unknown parameter(s) {unknown} for dataset {name!r}; valid parameters: {valid or 'none'}")


def check_params(name: str, params: dict[str, Any]) -> None:
    """Check, without building anything, that ``params`` are parameters of dataset ``name``.

    ``path`` and ``source`` are accepted where the dataset has a file loader. Values are checked
    when the dataset is built.
    """
    e = entry(name)
    params = dict(params)
    source = params.pop("source", None)
    path = params.pop("path", None)
    check_choice("source", source, (None, "procedural", "file"))
    use_file = source == "file" or path is not None or e.factory is None
    target = e.loader if use_file else e.factory
    if target is None:
        raise ValueError(f"dataset {name!r} is procedural only; it has no file loader")
    _check_names(_resolve(target), name, params)


def _call(factory: Callable[..., GroundTruthData], name: str, params: dict[str, Any]) -> GroundTruthData:
    _check_names(factory, name, params)
    dataset = factory(**params)
    if not dataset.name:
        dataset.name = name
    return dataset


def get(name: str, *, path: str | None = None, source: str | None = None, **params: Any) -> GroundTruthData:
    """Build the dataset registered as ``name``.

    Parameters
    ----------
    name: a name from :func:`names`.
    path: the original file (or folder) to read; implies ``source="file"``.
    source: ``"procedural"`` (render, the default where available) or ``"file"`` (read the
        original file from ``path`` or from ``$DISENTKIT_DATA``; the default for file-only
        datasets).
    params: dataset parameters (for example ``grid_spacing=4`` for ``xysquares``).

    Raises
    ------
    ValueError: an unknown name, source or parameter, naming the valid choices.
    """
    e = entry(name)
    if source is None:
        source = "file" if (path is not None or e.factory is None) else "procedural"
    check_choice("source", source, ("procedural", "file"))
    if source == "procedural":
        if path is not None:
            raise ValueError("path= reads an original file; it cannot be combined with source='procedural'")
        if e.factory is None:
            raise ValueError(f"dataset {name!r} has no procedural renderer; give path= to its file")
        return _call(_resolve(e.factory), name, params)
    if e.loader is None:
        if e.factory is not None and "path" in inspect.signature(_resolve(e.factory)).parameters:
            return _call(_resolve(e.factory), name, {**params, "path": path})
        raise ValueError(f"dataset {name!r} is procedural only; it has no file loader")
    return _call(_resolve(e.loader), name, {**params, "path": path})
