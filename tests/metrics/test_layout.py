"""The metrics package's shape: its shared pieces are passed as arguments, not kept in module state
(that no other package imports its private modules is checked for every package by
``tests/shared/test_private_imports.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import disentkit
import disentkit.metrics as metrics

SRC = Path(disentkit.__file__).resolve().parent
def test_common_is_only_a_re_export_of_the_modules_split_by_job():
    from disentkit.metrics import _checks, _common, _gbt, _information

    assert _common.check_inputs is _checks.check_inputs
    assert _common.mutual_information_matrix is _information.mutual_information_matrix
    assert _common.make_gbt_classifier is _gbt.make_gbt_classifier
    defined = [n for n in ast.walk(ast.parse(Path(_common.__file__).read_text()))
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defined == []


def test_no_metrics_module_keeps_mutable_module_state():
    """No ``global`` statement anywhere in the package (memos, warn-once flags, caches)."""
    for path in Path(metrics.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Global)], path.name
