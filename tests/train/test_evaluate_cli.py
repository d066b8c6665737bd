"""``disentkit evaluate --representation ... --dataset ... --out DIR``: a researcher's own encoder
scored without a run folder (a module on sys.path, a TorchScript file), and its one-line errors."""

from __future__ import annotations

import base64
import json
import re
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from disentkit.cli import main

# dSprites (procedural), the fast preset with tiny samples; med, the probe and kNN read the codes
TINY = ["--dataset", "dsprites", "--preset", "fast", "--metrics", "mig", "med", "linear_probe", "knn",
        "--set", "num_train=200", "--set", "num_test=100", "--set", "knn.k=5", "--quiet"]
# mig alone (it takes no num_test: evaluate rejects a setting no selected metric takes)
TINY_MIG = ["--dataset", "dsprites", "--preset", "fast", "--metrics", "mig", "--set", "num_train=200", "--quiet"]

ENCODERS = '''
import numpy as np
import torch
from torch import nn

SHAPE = (1, 64, 64)


def pixel_stats(images):
    """A representation: images (N, 1, 64, 64) -> 4 codes (mean intensity, centre of mass, spread)."""
    img = images[:, 0]
    ys, xs = np.mgrid[0:64, 0:64] / 63.0
    mass = img.sum(axis=(1, 2)) + 1e-6
    cx, cy = (img * xs).sum(axis=(1, 2)) / mass, (img * ys).sum(axis=(1, 2)) / mass
    return np.column_stack([img.mean(axis=(1, 2)), cx, cy, mass / 4096])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(64 * 64, 8)
        torch.manual_seed(0)
        nn.init.normal_(self.proj.weight, std=0.05)

    def represent(self, images):
        return self.proj(images.flatten(1))


def build():
    """A zero-argument factory returning an nn.Module with represent."""
    return Encoder()


def flat(images):
    return images.reshape(len(images), -1)[:, 0]  # (N,): not (N, D)


def broken(images):
    raise RuntimeError("boom\\nsecond line")


def failing_factory():
    raise KeyError("weights.bin")


NOT_CALLABLE = 3
'''


@pytest.fixture
def encoders(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "my_encoders.py").write_text(textwrap.dedent(ENCODERS))
    (folder / "bad_import.py").write_text("import not_a_real_package_xyz\n")
    monkeypatch.syspath_prepend(str(folder))
    return "my_encoders"


def _read(out):
    return json.loads((out / "metrics.json").read_text()), (out / "report.html").read_text()


def test_a_callable_representation_is_scored_into_metrics_json_and_a_report(encoders, tmp_path, capsys):
    out = tmp_path / "scores"
    assert main(["evaluate", "--representation", f"{encoders}:pixel_stats", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "metrics.json"), str(out / "report.html")]
    results, page = _read(out)
    assert list(results) == ["mig", "med", "linear_probe", "knn"]
    assert results["mig"]["settings"]["num_train"] == 200 and results["knn"]["settings"]["k"] == 5
    med = results["med"]["values"]
    assert med["informative_codes"] == 4
    assert sum(med[f"code_disentanglement_bin_{b}"] for b in range(10)) == pytest.approx(1.0)
    # the mass codes tell the scales apart far better than the majority-class baseline
    probe = results["linear_probe"]["values"]
    assert probe["test_accuracy:scale"] > probe["baseline_accuracy:scale"] + 0.1
    # the page is self-contained: the chart is an inline PNG, every value is in the table
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.split("</style>")[1]
    png = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert png and base64.b64decode(png.group(1)).startswith(b"\x89PNG")
    assert f"{med['top1_disentanglement']:.4f}" in page and "code size: 4" in page


def test_a_zero_argument_factory_and_a_torchscript_file(encoders, tmp_path):
    factory = tmp_path / "factory"
    assert main(["evaluate", "--representation", f"{encoders}:build", *TINY_MIG, "--out", str(factory)]) == 0
    from my_encoders import Encoder

    class Scripted(Encoder):
        @torch.jit.export
        def represent(self, images: torch.Tensor) -> torch.Tensor:
            return self.proj(images.flatten(1))

    path = tmp_path / "encoder.pt"
    torch.jit.save(torch.jit.script(Scripted()), str(path))
    scripted = tmp_path / "scripted"
    assert main(["evaluate", "--representation", str(path), *TINY_MIG, "--out", str(scripted)]) == 0
    # the same weights (seed 0) give the same codes, hence the same numbers
    assert _read(factory)[0]["mig"]["values"] == _read(scripted)[0]["mig"]["values"]
    # a TorchScript module without represent is used through its forward
    plain = nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 3))
    forward = tmp_path / "forward.pt"
    torch.jit.save(torch.jit.script(plain), str(forward))
    assert main(["evaluate", "--representation", str(forward), *TINY_MIG, "--out", str(tmp_path / "fwd")]) == 0


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_abc:f", r"cannot import module 'no_such_module_abc'"),
    ("bad_import:f", r"importing module 'bad_import' failed: ModuleNotFoundError: No module named "
                     r"'not_a_real_package_xyz'"),
    ("my_encoders:missing", r"'my_encoders' has no attribute 'missing'; it has: .*pixel_stats"),
    ("my_encoders:NOT_CALLABLE", r"'my_encoders:NOT_CALLABLE' is a int, not callable"),
    ("my_encoders:flat", r"must return a 2-D array \(N, D\), one row per image, got shape \(2,\)"),
    ("my_encoders:broken", r"the representation my_encoders:broken failed on images of shape "
                           r"\(2, 1, 64, 64\): RuntimeError: boom$"),
    ("my_encoders:failing_factory", r"the factory my_encoders:failing_factory\(\) failed: KeyError"),
    ("just_a_name", r"must be package.module:callable or a TorchScript file"),
])
def test_bad_representations_are_one_line_errors(encoders, tmp_path, capsys, spec, message):
    out = tmp_path / "x"
    assert main(["evaluate", "--representation", spec, *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("disentkit: error: "), err
    assert re.search(message, err.strip()), err
    assert not out.exists()


def test_bad_files_datasets_and_arguments_are_one_line_errors(encoders, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip archive")
    cases = [
        (["--representation", str(junk), *TINY], r"cannot load '.*junk.pt' as a TorchScript file"),
        (["--representation", str(tmp_path / "absent.pt"), *TINY], r"TorchScript file '.*absent.pt' does not exist"),
        (["--representation", f"{encoders}:pixel_stats", *TINY, "--dataset", "dsprite"],
         r"unknown dataset 'dsprite'; valid names: dsprites, .*shapes3d"),
        (["--representation", f"{encoders}:pixel_stats", *TINY, "--set", "med.nbins=3"],
         r"unknown setting\(s\) \['nbins'\] for 'med'; valid settings: .*num_bins"),
        (["--representation", f"{encoders}:pixel_stats", *TINY, "--metrics", "migg"],
         r"unknown metric\(s\) \['migg'\]"),
        (["--representation", f"{encoders}:pixel_stats", *TINY, "--set", "foo.bar=1"], r"unknown --set key 'foo.bar'"),
        (["--representation", f"{encoders}:pixel_stats"], r"missing: --dataset, --out"),
        ([], r"evaluate needs RUN_DIR, or --representation, --dataset and --out"),
        ([str(tmp_path), "--dataset", "dsprites"], r"a run directory is scored on its own dataset.*drop --dataset"),
    ]
    for argv, message in cases:
        out = ["--out", str(tmp_path / "x")] if "--representation" in argv and "--dataset" in argv else []
        assert main(["evaluate", *argv, *out]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert re.search(message, err), (message, err)
    assert not (tmp_path / "x").exists()


def test_settings_reach_the_metrics_per_metric_and_flat(encoders, tmp_path):
    out = tmp_path / "s"
    argv = ["--dataset", "dsprites", "--preset", "fast", "--metrics", "med", "--quiet", "--set", "num_train=200",
            "--set", "num_test=100", "--set", "med.topk=2", "--set", "num_bins=10", "--seed", "3"]
    assert main(["evaluate", "--representation", f"{encoders}:pixel_stats", *argv, "--out", str(out)]) == 0
    med = _read(out)[0]["med"]
    assert (med["settings"]["topk"], med["settings"]["num_bins"], med["settings"]["seed"]) == (2, 10, 3)
    assert "top2_disentanglement" in med["values"]
    assert np.isfinite(list(med["values"].values())).all()
