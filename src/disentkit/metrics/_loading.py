"""Load a researcher's own encoder from a reference string, for scoring without a run folder.

``load_representation(spec)`` accepts two kinds of ``spec``:

- ``"package.module:attribute"`` (``attribute`` may be dotted, ``"pkg.mod:Model.build"``): the
  module is imported (it must be importable: installed, or on ``sys.path``) and the attribute
  looked up. What it names is used as follows:

  * an ``nn.Module`` instance: the representation itself (it needs ``represent(images)``);
  * a class, or a callable that takes **no required argument**: a *factory*. It is called once
    with no arguments and must return a representation: an ``nn.Module`` with ``represent``, a
    TorchScript module, or a callable images -> codes;
  * any other callable (one that takes a required argument, ``f(images)``): the representation
    itself, called with float32 numpy images (N, C, H, W) and returning codes (N, D) as a numpy
    array or a torch tensor.

- a path to a TorchScript file (``model.pt``, saved with ``torch.jit.save``; any existing file, or
  a name ending in ``.pt``, ``.pth`` or ``.ptl``): loaded with ``torch.jit.load`` onto ``device``.
  Its ``represent`` method is used when it exports one (``@torch.jit.export``), else its
  ``forward``; both get a float32 tensor (N, C, H, W).

Every failure is a one-line ``ValueError`` naming what went wrong (an unknown module, a missing
attribute, something not callable, a factory that fails, a file that does not load). Importing a
module runs its code: pass only references to code you trust (a TorchScript file runs no Python).
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from typing import Any

__all__ = ["load_representation", "TORCHSCRIPT_SUFFIXES"]

#: File names with these endings are TorchScript files even when they do not exist (an error).
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ptl")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _is_module(obj: Any) -> bool:
    from torch import nn

    return isinstance(obj, nn.Module)


def _forward_as_represent(module: Any) -> Any:
    """An ``nn.Module`` whose ``represent`` is ``module``'s forward (for a TorchScript module that
    exports no ``represent``), so that it is called like any module representation."""
    from torch import nn

    class ForwardRepresentation(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def represent(self, images: Any) -> Any:
            return self.inner(images)

    return ForwardRepresentation(module)


def _as_module_representation(obj: Any) -> Any:
    """A TorchScript module without ``represent`` gets its forward used; everything else as is."""
    import torch

    if isinstance(obj, torch.jit.ScriptModule) and not callable(getattr(obj, "represent", None)):
        return _forward_as_represent(obj)
    return obj


def _load_torchscript(path: str, device: Any) -> Any:
    import torch

    if not os.path.isfile(path):
        raise ValueError(f"TorchScript file {path!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch >= 2.9 deprecates jit.load in favour of export
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(path, map_location=device)
    except Exception as err:  # torch raises RuntimeError and others for a bad file
        raise ValueError(
            f"cannot load {path!r} as a TorchScript file (torch.jit.load: {_one_line(err)}); "
            "save the encoder with torch.jit.save(torch.jit.script(model), path)"
        ) from None
    return _as_module_representation(module.eval())


def _import_attribute(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"--representation must be package.module:callable or a TorchScript file, got {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise ValueError(
                f"cannot import module {module_name!r} (no module named {err.name!r}); "
                "install it or put its folder on PYTHONPATH"
            ) from None
        raise ValueError(f"importing module {module_name!r} failed: {_one_line(err)}") from None
    except Exception as err:  # the user's module failed while running its top level
        raise ValueError(f"importing module {module_name!r} failed: {_one_line(err)}") from None
    obj: Any = module
    for depth, part in enumerate(attribute.split(".")):
        if not hasattr(obj, part):
            where = module_name if depth == 0 else f"{module_name}:{'.'.join(attribute.split('.')[:depth])}"
            public = sorted(n for n in dir(obj) if not n.startswith("_"))
            hint = f"; it has: {', '.join(public[:12])}{', ...' if len(public) > 12 else ''}" if public else ""
            raise ValueError(f"{where!r} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
    return obj


def _takes_no_required_argument(obj: Any) -> bool:
    """Whether ``obj`` can be called with no arguments (then it is a factory)."""
    if inspect.isclass(obj):
        return True
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: treat it as f(images)
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def load_representation(spec: str, *, device: Any = None) -> Any:
    """The representation that ``spec`` names (module docstring): an ``nn.Module`` with
    ``represent``, or a callable images -> codes, ready for :func:`~disentkit.metrics.evaluate`.

    ``device``: where a TorchScript file is loaded (``torch.jit.load(map_location=device)``);
    other modules are used where their factory put them (``evaluate`` sends the images there).

    Raises
    ------
    ValueError: one line naming the problem (see the module docstring).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"--representation must be package.module:callable or a TorchScript file, got {spec!r}")
    spec = spec.strip()
    if os.path.isfile(spec) or spec.lower().endswith(TORCHSCRIPT_SUFFIXES):
        return _load_torchscript(spec, device)
    obj = _import_attribute(spec)
    if _is_module(obj):
        return _as_module_representation(obj)
    if not callable(obj):
        raise ValueError(
            f"{spec!r} is a {type(obj).__name__}, not callable: name a representation (images -> codes), "
            "a zero-argument factory returning one, or an nn.Module with represent"
        )
    if _takes_no_required_argument(obj):
        try:
            made = obj()
        except Exception as err:
            raise ValueError(f"the factory {spec}() failed: {_one_line(err)}") from None
        if _is_module(made):
            return _as_module_representation(made)
        if not callable(made):
            raise ValueError(
                f"the factory {spec}() returned a {type(made).__name__}, which is not a representation "
                "(a callable images -> codes, or an nn.Module with represent)"
            )
        return made
    return obj
