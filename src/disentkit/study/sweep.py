"""The sweep DSL: build lists of flat config dicts by ``fixed``, ``sweep``, ``product``, ``zip`` and
``chain`` (the shape of disentanglement_lib's ``utils/hyperparams.py``, without gin).

Keys are dotted paths into a run config (``"method_params.beta"``). The same tree can be written in
YAML; :func:`from_yaml_node` turns a parsed node into points::

    product:
      - sweep: {dataset: [dsprites]}
      - chain:
          - product: [{fixed: {method: beta_vae}}, {sweep: {method_params.beta: [1, 4]}}]
          - product: [{fixed: {method: beta_tc_vae}}, {sweep: {method_params.beta: [2, 6]}}]
      - sweep: {seed: [0, 1]}
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

Point = dict[str, Any]


def fixed(values: Mapping[str, Any]) -> list[Point]:
    """One point holding every key of ``values``."""
    return [dict(values)]


def sweep(key: str, values: Iterable[Any]) -> list[Point]:
    """One point per value of ``key``."""
    values = list(values)
    if not values:
        raise ValueError(f"sweep over {key!r} needs at least one value")
    return [{key: v} for v in values]


def product(*parts: Sequence[Point]) -> list[Point]:
    """Every combination of one point from each part (later parts vary fastest); keys must not clash."""
    out = []
    for combo in itertools.product(*parts):
        point: Point = {}
        for p in combo:
            clash = set(point) & set(p)
            if clash:
                raise ValueError(f"product sets the key(s) {sorted(clash)} twice; use chain for alternatives")
            point.update(p)
        out.append(point)
    return out


def zipit(*parts: Sequence[Point]) -> list[Point]:
    """Points merged position by position; every part must have the same length."""
    lengths = {len(p) for p in parts}
    if len(lengths) > 1:
        raise ValueError(f"zip needs parts of equal length, got lengths {[len(p) for p in parts]}")
    return [product(*[[p] for p in row])[0] for row in zip(*parts)]


def chain(*parts: Sequence[Point]) -> list[Point]:
    """The points of every part, one part after another."""
    return [dict(p) for part in parts for p in part]


_NODES = ("fixed", "sweep", "product", "zip", "chain")


def from_yaml_node(node: Any, where: str = "grid") -> list[Point]:
    """Evaluate a parsed YAML sweep node (a one-key mapping naming the operation)."""
    if isinstance(node, list):  # a bare list means product
        if not node:
            raise ValueError(f"{where}: an empty list has no runs; list sweep nodes, or leave the grid out "
                             "for one run of the train defaults")
        return product(*[from_yaml_node(n, f"{where}[{i}]") for i, n in enumerate(node)])
    if not isinstance(node, Mapping) or len(node) != 1:
        raise ValueError(f"{where}: a sweep node is a mapping with one key out of {list(_NODES)}, got {node!r}")
    (op, arg), = node.items()
    if op == "fixed":
        if not isinstance(arg, Mapping):
            raise ValueError(f"{where}.fixed: expected a mapping of key: value")
        return fixed(arg)
    if op == "sweep":
        if not isinstance(arg, Mapping) or not arg:
            raise ValueError(f"{where}.sweep: expected a mapping of key: [values]")
        parts = []
        for key, values in arg.items():
            if not isinstance(values, list):
                raise ValueError(f"{where}.sweep.{key}: expected a list of values, got {values!r}")
            parts.append(sweep(key, values))
        return product(*parts)
    if op in ("product", "zip", "chain"):
        if not isinstance(arg, list) or not arg:
            raise ValueError(f"{where}.{op}: expected a non-empty list of sweep nodes")
        parts = [from_yaml_node(n, f"{where}.{op}[{i}]") for i, n in enumerate(arg)]
        return {"product": product, "zip": zipit, "chain": chain}[op](*parts)
    raise ValueError(f"{where}: unknown sweep operation {op!r}; valid: {list(_NODES)}")
