"""Checks for scalar arguments and config values, shared by every package.

Each check returns the value in its canonical type or raises one ``ValueError`` whose message names
the argument and the valid range or choices::

    >>> check_int("steps", 10, 1)
    10
    >>> check_number("lr", 1e-3, 0.0, strict_min=True)
    0.001
    >>> check_choice("precision", "bf16", ("fp32", "bf16"))
    'bf16'

``bool`` is never accepted as a number (``True`` is an ``int`` in Python, rarely what was meant);
numpy integer and floating scalars are. Numbers must be finite unless a check says otherwise
(``check_number(..., finite=False)``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

__all__ = ["check_choice", "check_int", "check_number"]


def check_int(name: str, value: Any, minimum: int, *, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None).

    Accepts Python and numpy integers, not ``bool`` or floats with integral values.
    """
    in_range = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum \
        and (maximum is None or value <= maximum)
    if not in_range:
        valid = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {valid}, got {value!r}")
    return int(value)


def check_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 *, strict_min: bool = False, strict_max: bool = False, finite: bool = True) -> float:
    """``value`` as a ``float`` within the bounds (``strict_*``: the bound itself is excluded).

    NaN is always rejected. Infinities are rejected too (``finite=False`` lets ``±inf`` through where
    it means something), and so is an integer too large for a float: a YAML or command-line literal
    such as ``1e999`` or ``.inf`` reaches a config as ``inf`` and is refused when the config is built.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range (10**400)
        raise ValueError(f"{name} must be a finite number, got an integer too large for a float "
                         f"({len(str(value))} digits)") from None
    if finite and not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    bad_min = minimum is not None and (number <= minimum if strict_min else number < minimum)
    bad_max = maximum is not None and (number >= maximum if strict_max else number > maximum)
    if bad_min or bad_max:
        lo = "" if minimum is None else f"{'>' if strict_min else '>='} {minimum}"
        hi = "" if maximum is None else f"{'<' if strict_max else '<='} {maximum}"
        raise ValueError(f"{name} must be {' and '.join(s for s in (lo, hi) if s)}, got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``, else ``ValueError`` naming them."""
    try:
        valid = value in choices
    except TypeError:  # an unhashable value tested against a set or dict
        valid = False
    if not valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
