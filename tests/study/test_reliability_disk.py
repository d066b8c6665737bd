"""A full or read-only disk fails runs cleanly (issue 9, item 5, the runs): each run that cannot write
is recorded as failed with "No space left on device" and the path, the main process never crashes,
the remaining runs are tried, finished runs keep their scores, and a retry after freeing space
completes the study."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from disentkit.study import StudySpec, run_study
from disentkit.study.records import read_status, run_dir


def _train_only(run, folder):
    """The real trainer (config, log, checkpoints, weights) and a small metrics.json; no scoring."""
    from disentkit.train import TrainConfig, train

    train(TrainConfig.from_dict(run.train), folder, resume=True, progress=False)
    (folder / "metrics.json").write_text(json.dumps({"mig": {"values": {"discrete_mig": 0.25}}}))


class _FullFile:
    """A file opened on a full disk: it exists, every write fails (a failed write() names no file)."""

    def __init__(self, real):
        self._real = real

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def __getattr__(self, name):
        return getattr(self._real, name)


def _break_disk(monkeypatch, root: Path, code: int, names: tuple[str, ...] = (), pid: int | None = None) -> None:
    """From now on (and in every worker forked from now on; only in process ``pid`` when given)
    writes of files under ``root`` (only those named ``names``' temporaries, when given) fail as on a
    full disk (ENOSPC: the write fails) or a read-only one (EROFS: the open fails, naming the file)."""
    real_open = io.open

    def faulty_open(file, mode="r", *args, **kwargs):
        path = Path(os.fsdecode(file)) if isinstance(file, (str, bytes, os.PathLike)) else None
        hit = path is not None and any(c in mode for c in "wax+") and str(path).startswith(str(root)) \
            and (not names or any(path.name.startswith(f".{Path(n).stem}.") for n in names)) \
            and (pid is None or os.getpid() == pid)
        if not hit:
            return real_open(file, mode, *args, **kwargs)
        if code == errno.EROFS:
            raise OSError(code, os.strerror(code), str(path))
        return _FullFile(real_open(file, mode, *args, **kwargs))

    monkeypatch.setattr(io, "open", faulty_open)
    monkeypatch.setattr("builtins.open", faulty_open)


def _study(tiny_study, name: str, seeds=(0, 1, 2)) -> StudySpec:
    return StudySpec.from_dict(tiny_study(name=name, grid={"sweep": {"seed": list(seeds)}}, method="beta_vae"))


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "No space left on device"),
                                        (errno.EROFS, "Read-only file system")])
def test_a_disk_that_cannot_be_written_fails_each_run_and_never_the_study(tmp_path, tiny_study, monkeypatch,
                                                                           code, text):
    spec = _study(tiny_study, f"disk{code}")
    finished, *rest = (r.run_id for r in spec.runs())
    out = tmp_path / "study"
    first = run_study(spec, out, only=["seed=0"], report=False, progress=False, run_fn=_train_only)
    assert first.failed == [] and read_status(run_dir(out, finished))["state"] == "done"
    kept = {name: (run_dir(out, finished) / name).read_bytes() for name in ("status.json", "metrics.json")}

    _break_disk(monkeypatch, out, code)
    with pytest.warns(RuntimeWarning, match="could not write .*study.json"):
        result = run_study(spec, out, report=False, progress=False, run_fn=_train_only)
    assert (result.skipped, result.executed, sorted(result.failed)) == (1, 2, sorted(rest))  # every run tried
    for run_id in rest:
        folder = run_dir(out, run_id)
        error = result.errors[run_id]
        assert text in error and str(folder) in error, error  # the disk problem and the path
        assert "could not write" in error and "status.json" in error  # the status could not be recorded
        assert not list(folder.glob(".*.tmp*"))  # no temporary file left behind
    assert any("study.json" in line and text in line for line in result.problems)
    # the finished run is untouched, with its scores
    assert {name: (run_dir(out, finished) / name).read_bytes() for name in kept} == kept

    monkeypatch.undo()  # space again: a retry completes the study
    again = run_study(spec, out, report=False, progress=False, run_fn=_train_only)
    assert (again.skipped, again.executed, again.failed, again.problems) == (1, 2, [], [])
    assert all(read_status(run_dir(out, r.run_id))["state"] == "done" for r in spec.runs())


def test_a_status_file_that_cannot_be_written_is_reported_not_raised(tmp_path, tiny_study, monkeypatch):
    """Only ``status.json`` cannot be written. In the workers: the runs are not started (nothing would
    record them) and come back failed, saying so. In the main process only: a worker that dies without
    a record leaves the main process to write it, which fails too. Neither crashes the study."""
    spec = _study(tiny_study, "status", seeds=(0, 1))
    works, dies = (r.run_id for r in spec.runs())
    def run_fn(run, folder):
        if run.run_id == dies:
            os._exit(3)
        (folder / "metrics.json").write_text("{}")

    def status_file(run_id):
        return run_dir(tmp_path, run_id) / "status.json"

    with monkeypatch.context() as patch:  # nowhere
        _break_disk(patch, tmp_path, errno.ENOSPC, names=("status.json",))
        result = run_study(spec, tmp_path, report=False, progress=False, run_fn=run_fn)
    assert sorted(result.failed) == sorted([works, dies]) and result.executed == 2
    for run_id in (works, dies):
        error = result.errors[run_id]
        folder = run_dir(tmp_path, run_id)
        assert error.startswith("OSError: [Errno 28] No space left on device (no space left on device while "
                                f"writing in {folder}); could not write {status_file(run_id)}: "), error
        assert not status_file(run_id).exists() and not list(run_dir(tmp_path, run_id).glob(".status.*"))
    assert not (run_dir(tmp_path, works) / "metrics.json").exists()  # not started

    with monkeypatch.context() as patch:  # in the main process only
        _break_disk(patch, tmp_path, errno.ENOSPC, names=("status.json",), pid=os.getpid())
        result = run_study(spec, tmp_path, report=False, progress=False, run_fn=run_fn)
    assert result.failed == [dies] and result.executed == 2
    assert result.errors[dies].startswith("the worker exited with code 3 before recording a result; "
                                          f"could not write {status_file(dies)}: OSError: [Errno 28]")
    assert read_status(run_dir(tmp_path, works))["state"] == "done"
    assert read_status(run_dir(tmp_path, dies))["state"] == "running"  # the worker's record, as it left it


# -- a real full disk: a 64 MB tmpfs (three runs of 11 MB fit) in a private mount namespace ------------

_TMPFS_CHILD = textwrap.dedent("""
    import json, sys, warnings
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_reliability_disk import _train_only
    from disentkit.study import StudySpec, load, run_study
    from disentkit.study.records import read_status, run_dir

    root = Path(sys.argv[1])
    spec = StudySpec.from_dict(json.loads(sys.argv[3]))
    ids = [r.run_id for r in spec.runs()]
    out = root / "study"
    report = {"first": run_study(spec, out, only=["seed=0"], report=False, progress=False,
                                 run_fn=_train_only).failed}
    report["scores"] = load(out).set_index("run_id").loc[ids[0], "mig.discrete_mig"]
    filler = root / "filler"
    with open(filler, "wb") as f:  # fill the disk, then give back 256 KiB: room for small files only
        try:
            while True:
                f.write(b"\\0" * (1 << 20)); f.flush()
        except OSError:
            pass
    with open(filler, "r+b") as f:
        f.truncate(filler.stat().st_size - (256 << 10))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        full = run_study(spec, out, report=False, progress=False, run_fn=_train_only)
    report["full"] = {"skipped": full.skipped, "executed": full.executed, "failed": full.failed,
                      "errors": full.errors, "problems": full.problems,
                      "states": {r: read_status(run_dir(out, r))["state"] for r in ids}}
    report["scores_after"] = load(out).set_index("run_id").loc[ids[0], "mig.discrete_mig"]
    filler.unlink()
    again = run_study(spec, out, report=False, progress=False, run_fn=_train_only)
    report["again"] = {"skipped": again.skipped, "executed": again.executed, "failed": again.failed,
                       "errors": again.errors, "states": {r: read_status(run_dir(out, r))["state"] for r in ids}}
    print(json.dumps(report))
""")


def _can_mount_tmpfs(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"],
                           capture_output=True)
    return probe.returncode == 0


def test_a_full_tmpfs_fails_the_runs_that_cannot_write_and_a_retry_completes(tmp_path, tiny_study):
    root = tmp_path / "disk"
    root.mkdir()
    if not _can_mount_tmpfs(root):
        pytest.skip("cannot mount a tmpfs here (needs unshare -rm and mount)")
    study = tiny_study(name="tmpfs", grid={"sweep": {"seed": [0, 1, 2]}}, method="beta_vae")
    ids = [r.run_id for r in StudySpec.from_dict(study).runs()]
    script = f"mount -t tmpfs -o size=64m tmpfs {root} && exec {sys.executable} -c \"$0\" \"$@\""
    child = subprocess.run(["unshare", "-rm", "sh", "-c", script, _TMPFS_CHILD, str(root),
                            str(Path(__file__).parent), json.dumps(study)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stderr
    report = json.loads(child.stdout.splitlines()[-1])
    assert report["first"] == [] and report["scores"] == 0.25
    full = report["full"]
    assert (full["skipped"], full["executed"], sorted(full["failed"])) == (1, 2, sorted(ids[1:]))
    for run_id in ids[1:]:
        error = full["errors"][run_id]
        assert "no space left on device" in error.lower() and f"{root}/study/runs/{run_id}" in error, error
    assert full["states"][ids[0]] == "done" and report["scores_after"] == 0.25  # finished run kept, db readable
    again = report["again"]
    assert (again["skipped"], again["executed"], again["failed"]) == (1, 2, []), again["errors"]
    assert set(again["states"].values()) == {"done"}
