"""Checkpoints: weights as safetensors, training state as tensors + JSON; atomic writes.

A checkpoint is a folder ``checkpoints/step_00001000/`` holding

- ``model.safetensors``: every tensor of the method's ``state_dict`` (weights, buffers, tensor
  extra state such as a generator's state);
- ``state.pt``: optimiser states and the torch RNG states, readable with
  ``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and dicts only);
- ``state.json``: the step, the batch stream position, the resolved training config the
  checkpoint was written under (``"config"``) and other JSON-able state;
- ``manifest.json`` (written last): the SHA-256 and size of each of the three files above.

The folder is written under a temporary name and renamed into place with :func:`os.replace`, so a
run killed at any moment leaves either a complete checkpoint or none; loading never executes code.
:func:`load_checkpoint` checks the files against the manifest before reading them and turns every
failure (a missing, truncated or changed file; a file safetensors, ``torch.load`` or JSON cannot
read) into a one-line :class:`CheckpointError` naming the folder and the file. A checkpoint written
before manifests existed has none; it is verified structurally instead (every file reads and holds
the keys the trainer needs).
"""

from __future__ import annotations

import hashlib
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
MANIFEST = "manifest.json"
_FILES = (WEIGHTS, TENSOR_STATE, JSON_STATE)
_TENSOR_KEYS = ("optimizers", "schedulers", "rng", "log")
_JSON_KEYS = ("step", "stream")


class CheckpointError(ValueError):
    """A checkpoint folder that is incomplete, corrupt or unreadable (the message names the file)."""

    def __init__(self, folder: Path, problem: str):
        self.folder = Path(folder)
        self.problem = problem
        super().__init__(f"checkpoint {self.folder} {problem}")


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
    """Load a safetensors file into ``module`` (strict: every key must match).

    A file safetensors cannot read (truncated, corrupt), or whose tensors do not fit ``module``, is
    a one-line ValueError naming it.
    """
    from safetensors.torch import load_file

    path = Path(path)
    try:
        tensors = load_file(str(path), device="cpu")
        module.load_state_dict(tensors, strict=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # SafetensorError, a key/shape mismatch (RuntimeError), OSError
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"cannot load weights {path} ({type(err).__name__}: {first})") from None


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


def file_sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_sha256(config: dict[str, Any]) -> str:
    """The hex SHA-256 of a config dict's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the files in ``folder``: ``{"files": {name: {"sha256", "bytes"}}}``."""
    return {"files": {name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size}
                      for name in _FILES}}


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
    ``json_state`` to ``state.json`` (with ``"step"`` added), and the checksums of the three files,
    read back from disk, to ``manifest.json``.
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
    write_json_atomic(tmp / MANIFEST, {"step": int(step), **_manifest(tmp)})
    if final.exists():  # the same step again: move the old copy aside (a ".tmp-" name) first
        os.replace(final, root / f".tmp-old-{final.name}-{os.getpid()}")
    os.replace(tmp, final)
    fsync(root)
    remove_partial(root)
    for _, old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify_checkpoint(folder: str | os.PathLike) -> bool:
    """Check a checkpoint's files against its ``manifest.json``; returns whether it had one.

    Raises :class:`CheckpointError` naming the file that is missing, has the wrong size (truncated)
    or the wrong SHA-256 (changed), or when the manifest itself cannot be read. A checkpoint without
    a manifest (written by an older disentkit) returns False: only :func:`load_checkpoint`'s
    structural checks stand for it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(folder, "is not a folder")
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(folder, f"is incomplete: {', '.join(missing)} missing")
    if not (folder / MANIFEST).exists():
        return False
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
        expected = {name: (str(files[name]["sha256"]), int(files[name]["bytes"])) for name in _FILES}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(folder, f"has an unreadable {MANIFEST} ({type(err).__name__}: {err})") from None
    bad = []
    for name, (sha, size) in expected.items():
        actual = (folder / name).stat().st_size
        if actual != size:
            bad.append(f"{name} has {actual} bytes, {size} recorded (truncated or changed)")
        elif file_sha256(folder / name) != sha:
            bad.append(f"{name} does not match its recorded SHA-256 (corrupt)")
    if bad:
        raise CheckpointError(folder, f"fails verification: {'; '.join(bad)}")
    return True


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a checkpoint folder: ``(weights, tensor_state, json_state)``; nothing is executed.

    The files are verified first (:func:`verify_checkpoint`); any file that does not read, or lacks
    the keys the trainer restores, is a :class:`CheckpointError` naming it.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    verify_checkpoint(folder)
    weights = _read(folder, WEIGHTS, lambda path: load_file(str(path), device="cpu"))
    tensor_state = _read(folder, TENSOR_STATE,
                         lambda path: torch.load(path, map_location="cpu", weights_only=True))
    json_state = _read(folder, JSON_STATE, lambda path: json.loads(path.read_text()))
    for name, state, keys in ((TENSOR_STATE, tensor_state, _TENSOR_KEYS), (JSON_STATE, json_state, _JSON_KEYS)):
        lacking = [key for key in keys if not isinstance(state, dict) or key not in state]
        if lacking:
            raise CheckpointError(folder, f"is corrupt: {name} lacks {', '.join(lacking)}")
    if isinstance(json_state["step"], bool) or not isinstance(json_state["step"], int):
        raise CheckpointError(folder, f"is corrupt: {JSON_STATE} has step {json_state['step']!r}")
    return weights, tensor_state, json_state


def _read(folder: Path, name: str, reader: Any) -> Any:
    """``reader(folder / name)``, its failures (safetensors, unpickling, JSON, OS) as a CheckpointError."""
    try:
        return reader(folder / name)
    except Exception as err:  # SafetensorError, UnpicklingError, RuntimeError, JSONDecodeError, OSError, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(folder, f"is unreadable: {name} ({type(err).__name__}: {first[:200]})") from None


def remove_partial(root: str | os.PathLike) -> None:
    """Delete temporary folders left by a run killed while writing a checkpoint."""
    root = Path(root)
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(".tmp-") and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
