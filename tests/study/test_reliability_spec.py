"""Study values are checked up front (issue 9, item 7, the study parts): ``grid: []`` is an error, and a
study name cannot escape the studies folder. Found by writing such study files and running
``disentkit study plan`` and ``study run`` on them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from disentkit.cli import main
from disentkit.study import StudySpec, run_study
from disentkit.study.spec import check_study_name


def _never(run, folder):  # pragma: no cover - must not be called
    raise AssertionError("a run executed")


@pytest.mark.parametrize("grid, where", [([], "grid"), ({"product": [[]]}, r"grid\.product\[0\]"),
                                         ({"chain": [{"fixed": {"seed": 1}}, []]}, r"grid\.chain\[1\]")])
def test_an_empty_grid_is_an_error(tiny_study, grid, where):
    with pytest.raises(ValueError, match=rf"^{where}: an empty list has no runs"):
        StudySpec.from_dict(tiny_study(grid=grid))


def test_no_grid_is_one_run_of_the_defaults(tiny_study):
    study = tiny_study(method="beta_vae")
    del study["grid"]
    assert len(StudySpec.from_dict(study).runs()) == 1


BAD_NAMES = ["../escape", "../../etc", "/tmp/absolute", "a/b", "a\\b", "..", ".", "", "   ", "x\0y", "two\nlines"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n) for n in BAD_NAMES])
def test_a_study_name_cannot_escape_the_studies_folder(tiny_study, name):
    with pytest.raises(ValueError, match="study name") as raised:
        StudySpec.from_dict(tiny_study(name=name))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["quickstart", "my study", "beta-vae_v1.2", "médian"])
def test_ordinary_study_names_are_accepted(name):
    assert check_study_name(name) == name


def test_study_plan_prints_one_line_for_an_empty_grid_and_an_escaping_name(tmp_path, tiny_study, study_writer, capsys):
    for name, grid, words in (("empty", [], "grid: an empty list has no runs"),
                              ("../escape", {"fixed": {"method": "beta_vae"}}, "study name '../escape'")):
        path = tmp_path / "plan.yaml"
        path.write_text(yaml.safe_dump(tiny_study(name=name, grid=grid)))
        assert main(["study", "plan", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"disentkit: error: {words}") and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_study_run_with_an_escaping_name_creates_nothing(tmp_path, tiny_study, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / "escape.yaml"
    path.write_text(yaml.safe_dump(tiny_study(name="../escaped", grid={"fixed": {"method": "beta_vae"}})))
    monkeypatch.chdir(work)
    assert main(["study", "run", str(path)]) == 2  # its default folder would be studies/../escaped
    err = capsys.readouterr().err
    assert err.startswith("disentkit: error: study name '../escaped' is not a folder name") and "Traceback" not in err
    assert list(work.iterdir()) == [] and not (tmp_path / "escaped").exists()
    with pytest.raises(ValueError, match="study name"):
        run_study(path, tmp_path / "out", progress=False, run_fn=_never)
    assert not (tmp_path / "out").exists()


def test_a_study_file_that_is_a_folder_or_not_utf8_is_one_line(tmp_path, capsys):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    for path, words in ((folder, "is a folder, not a YAML file"), (binary, "is not UTF-8 text (byte 6)")):
        assert main(["study", "plan", str(path)]) == 2
        err = capsys.readouterr().err
        assert err == f"disentkit: error: study file {path} {words}\n"
        with pytest.raises(ValueError, match="study file"):
            StudySpec.load(path)


def test_a_study_name_read_from_disk_is_checked_when_the_spec_is_built(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: ../../x\ngrid: {fixed: {method: beta_vae}}\n")
    with pytest.raises(ValueError, match=r"study name '\.\./\.\./x' is not a folder name"):
        StudySpec.load(Path(path))
