"""The shared helpers: disentkit.validation's checks and disentkit.io's atomic writes and value parser."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from disentkit.io import atomic_path, parse_yaml_value, write_json_atomic
from disentkit.validation import check_choice, check_int, check_number


def test_check_int_accepts_python_and_numpy_ints_and_rejects_the_rest():
    assert check_int("n", 3, 1) == 3
    out = check_int("n", np.int64(5), 0, maximum=5)
    assert out == 5 and type(out) is int
    for bad in (True, 2.0, "3", None):
        with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
            check_int("n", bad, 1)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 0$"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"^crop must be an integer in \[1, 4\], got 5$"):
        check_int("crop", 5, 1, maximum=4)


def test_check_number_bounds_strictness_and_finiteness():
    assert check_number("lr", 1, 0.0, strict_min=True) == 1.0
    assert type(check_number("x", np.float32(0.5), 0, 1)) is float
    assert check_number("x", float("inf"), finite=False) == float("inf")  # inf only where asked for
    with pytest.raises(ValueError, match=r"^x must be a finite number, got inf$"):
        check_number("x", float("inf"))
    with pytest.raises(ValueError, match=r"^lr must be > 0.0, got 0.0$"):
        check_number("lr", 0.0, 0.0, strict_min=True)
    with pytest.raises(ValueError, match=r"^b must be >= 0.0 and < 1.0, got 1.0$"):
        check_number("b", 1.0, 0.0, 1.0, strict_max=True)
    with pytest.raises(ValueError, match=r"^s must be a finite number, got inf$"):
        check_number("s", float("inf"), finite=True)
    for bad in (True, "1", float("nan"), None):
        with pytest.raises(ValueError, match=r"^x must be a number, got "):
            check_number("x", bad)


def test_check_choice_names_the_choices():
    assert check_choice("p", "bf16", ("fp32", "bf16")) == "bf16"
    with pytest.raises(ValueError, match=r"^p must be one of 'fp32', 'bf16'; got 'fp16'$"):
        check_choice("p", "fp16", ("fp32", "bf16"))
    with pytest.raises(ValueError, match="must be one of"):
        check_choice("p", ["a"], {"a": 1})  # unhashable against a dict: an error, not a TypeError


def test_write_json_atomic_writes_whole_files_and_leaves_the_old_one_on_error(tmp_path):
    path = tmp_path / "sub" / "a.json"
    assert write_json_atomic(path, {"b": 1, "a": [1, 2]}) == path
    assert path.read_text() == '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n'
    write_json_atomic(path, {"b": 1, "a": 2}, sort_keys=True)
    assert list(json.loads(path.read_text())) == ["a", "b"]
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert json.loads(path.read_text()) == {"a": 2, "b": 1}
    write_json_atomic(path, {"x": 1j}, default=str)
    assert json.loads(path.read_text()) == {"x": "1j"}
    assert os.listdir(path.parent) == ["a.json"]  # no temporary file left behind


def test_atomic_path_keeps_the_suffix_and_cleans_up(tmp_path):
    target = tmp_path / "m.npz"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npz" and tmp.name.startswith(".")
        np.savez(tmp, x=np.arange(3))
    assert np.load(target)["x"].tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert np.load(target)["x"].tolist() == [0, 1, 2] and os.listdir(tmp_path) == ["m.npz"]


def test_parse_yaml_value():
    assert parse_yaml_value("4") == 4 and type(parse_yaml_value("4")) is int
    assert parse_yaml_value("1e-4") == 1e-4 and parse_yaml_value("-2E3") == -2000.0
    assert parse_yaml_value("0.5") == 0.5
    assert parse_yaml_value("true") is True and parse_yaml_value("null") is None
    assert parse_yaml_value("[1, 2]") == [1, 2] and parse_yaml_value("{a: 1}") == {"a": 1}
    assert parse_yaml_value("beta_vae") == "beta_vae"
    with pytest.raises(ValueError, match=r"cannot parse value '\[1'"):
        parse_yaml_value("[1")
