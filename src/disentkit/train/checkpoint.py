"""Checkpoints: weights as safetensors, training state as tensors + JSON; atomic writes.

A checkpoint is a folder ``checkpoints/step_00001000/`` holding

- ``model.safetensors``: every tensor of the method's ``state_dict`` (weights, buffers, tensor
  extra state such as a generator's state);
- ``state.pt``: optimiser states and the torch RNG states, readable with
  ``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and dicts only);
- ``state.json``: the step, the batch stream position and other JSON-able state.

The folder is written under a temporary name and renamed into place with :func:`os.replace`, so a
run killed at any moment leaves either a complete checkpoint or none; loading never executes code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from disentkit.io import atomic_path, fsync, write_json_atomic

_STEP_DIR = re.compile(r"^step_(\d+)$")
WEIGHTS = "model.safetensors"
TENSOR_STATE = "state.pt"
JSON_STATE = "state.json"


def module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``module.state_dict()`` as contiguous CPU copies (safetensors-ready).

    Raises ValueError when the state dict holds a non-tensor entry (a method's extra state must be
    a tensor to be stored as weights).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"state_dict entry {key!r} is a {type(value).__name__}; checkpoints store tensors only "
                "(return a tensor from get_extra_state)"
            )
        out[key] = value.detach().to("cpu", copy=True).contiguous()
    return out


def save_weights(module: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write the module's tensors to a safetensors file, atomically (temp file + ``os.replace``)."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(module_tensors(module), str(tmp), metadata=metadata)
    return path


def load_weights(module: nn.Module, path: str | os.PathLike) -> None:
    """Load a safetensors file into ``module`` (strict: every key must match)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path), device="cpu")
    module.load_state_dict(tensors, strict=True)


def checkpoint_path(root: str | os.PathLike, step: int) -> Path:
    """The folder of the checkpoint after ``step`` steps."""
    return Path(root) / f"step_{step:08d}"


def list_checkpoints(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, folder)``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``root`` (None when there is none)."""
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    module: nn.Module,
    tensor_state: dict[str, Any],
    json_state: dict[str, Any],
    keep: int = 1,
) -> Path:
    """Write the checkpoint after ``step`` steps atomically, then keep only the ``keep`` newest.

    ``tensor_state`` goes to ``state.pt`` (``torch.save``; it must load with ``weights_only=True``),
    ``json_state`` to ``state.json`` (with ``"step"`` added).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(root, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_weights(module, tmp / WEIGHTS)
    torch.save(tensor_state, tmp / TENSOR_STATE)
    fsync(tmp / TENSOR_STATE)
    write_json_atomic(tmp / JSON_STATE, {"step": int(step), **json_state})
    if final.exists():  # the same step again: move the old copy aside (a ".tmp-" name) first
        os.replace(final, root / f".tmp-old-{final.name}-{os.getpid()}")
    os.replace(tmp, final)
    fsync(root)
    remove_partial(root)
    for _, old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a checkpoint folder: ``(weights, tensor_state, json_state)``; nothing is executed."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (WEIGHTS, TENSOR_STATE, JSON_STATE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"incomplete checkpoint {folder}: {name} is missing")
    weights = load_file(str(folder / WEIGHTS), device="cpu")
    tensor_state = torch.load(folder / TENSOR_STATE, map_location="cpu", weights_only=True)
    json_state = json.loads((folder / JSON_STATE).read_text())
    return weights, tensor_state, json_state


def remove_partial(root: str | os.PathLike) -> None:
    """Delete temporary folders left by a run killed while writing a checkpoint."""
    root = Path(root)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(".tmp-") and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
