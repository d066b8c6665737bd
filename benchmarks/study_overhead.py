"""Overhead of the study runner per run, as a share of a one-minute run (goal: under 2%).

1. Execution: ``run_study`` on a study of ``--runs`` runs whose run function only sleeps ``--sleep``
   seconds, with the local executor and ``--workers`` workers. The overhead per run is the extra
   worker time, ``(wall - runs * sleep / workers) * workers / runs``: forking a worker, recording
   the run (``run_spec.json``, ``status.json``), waiting for it and collecting its status. Planning,
   the results store and the report are timed separately (they are paid once per study, not per
   run) and reported per run as well. Measured twice: from a bare parent process, and from one that
   has imported torch, the trainer and the metrics (what the executor preloads before forking when
   it runs the real train-and-evaluate function), whose forks copy a larger address space.
2. Planning: ``StudySpec.load("unsupervised_study_v1").runs()`` (12,600 runs, every config
   validated and resolved), with and without ``--only dataset=dsprites --only seed=0..4``, after the
   imports (reported separately).
3. The report's per-run extra: ``score_matrices`` (mutual-information and DCI-importance matrices
   of the standard conv beta-VAE on dSprites), which every real run computes after its evaluation,
   at 5000 samples (the cap, the reference preset) and 2000 (the fast preset). One torch thread.

    .venv/bin/python benchmarks/study_overhead.py [--runs 24] [--sleep 0.5] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ONE_MINUTE = 60.0


class SleepRun:
    """A run function that sleeps a fixed time and writes an empty ``metrics.json``."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, run, folder: Path) -> dict:
        time.sleep(self.seconds)
        (folder / "metrics.json").write_text("{}")
        return {}


def sleep_study(runs: int) -> dict:
    """A study of ``runs`` tiny beta_vae runs (the run function replaces training)."""
    return {"name": "overhead", "train": {"method": "beta_vae", "dataset": "dsprites", "steps": 10,
                                          "images": False},
            "evaluation": {"metrics": ["mig"], "preset": "fast"},
            "grid": {"sweep": {"seed": list(range(runs))}}}


def execution_overhead(runs: int, sleep: float, workers: int) -> dict[str, float]:
    """Time planning, execution, the store and the report of a sleeping study (seconds)."""
    from disentkit.study import StudySpec, run_study, write_store
    from disentkit.study.report import write_report

    spec = StudySpec.from_dict(sleep_study(runs))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        spec.runs()
        plan = time.perf_counter() - start
        start = time.perf_counter()
        result = run_study(spec, tmp, workers=workers, report=False, progress=False, run_fn=SleepRun(sleep))
        wall = time.perf_counter() - start
        assert result.executed == runs and not result.failed, result
        start = time.perf_counter()
        write_store(tmp)
        store = time.perf_counter() - start
        start = time.perf_counter()
        write_report(tmp)
        report = time.perf_counter() - start
    execute = wall - plan - store  # run_study plans and writes the store once itself
    return {"plan": plan, "execute": execute, "store": store, "report": report,
            "per_run": (execute - runs * sleep / workers) * workers / runs}


def planning(only: list[str]) -> tuple[int, float]:
    """(runs, seconds) of planning the built-in unsupervised_study_v1 grid."""
    from disentkit.study import StudySpec

    start = time.perf_counter()
    runs = StudySpec.load("unsupervised_study_v1").runs(only=only)
    return len(runs), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24, help="runs of the sleeping study (default 24)")
    parser.add_argument("--sleep", type=float, default=0.5, help="seconds each run sleeps (default 0.5)")
    parser.add_argument("--workers", type=int, default=2, help="local workers (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement; the median is shown")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    import disentkit.study  # noqa: F401
    from disentkit.study.spec import resolve_evaluation, resolve_train

    resolve_train({"method": "beta_vae", "dataset": "dsprites", "steps": 1})  # imports torch, methods, data
    resolve_evaluation({"metrics": "all"})  # imports the metric modules it checks settings against
    imports = time.perf_counter() - start
    print(f"imports for planning (torch, methods, data, metrics): {imports:.2f} s, once per process")

    print(f"\n1. runner overhead: {args.runs} runs sleeping {args.sleep} s, local executor, "
          f"{args.workers} worker(s), median of {args.repeats}")
    header = f"{'parent':<24}{'per run':>10}{'% of 1 min':>12}{'plan/run':>11}{'store/run':>11}{'report':>9}"
    print(header)
    for label in ("bare", "preloaded"):
        if label == "preloaded":
            from disentkit.study.runner import preload

            preload(["mig", "sap", "dci", "irs", "unsupervised", "modularity_explicitness"])
        timings = [execution_overhead(args.runs, args.sleep, args.workers) for _ in range(args.repeats)]
        med = {k: statistics.median(t[k] for t in timings) for k in timings[0]}
        print(f"{label:<24}{med['per_run'] * 1e3:>8.1f}ms{100 * med['per_run'] / ONE_MINUTE:>11.3f}%"
              f"{med['plan'] / args.runs * 1e3:>9.2f}ms{med['store'] / args.runs * 1e3:>9.1f}ms"
              f"{med['report']:>8.2f}s")

    print("\n2. planning unsupervised_study_v1 (after the imports above)")
    for only in ([], ["dataset=dsprites", "seed=0..4"]):
        n, seconds = min((planning(only) for _ in range(args.repeats)), key=lambda r: r[1])
        label = "all" if not only else " ".join(f"--only {o}" for o in only)
        print(f"  {label:<42} {n:>6} runs  {seconds:6.2f} s  {seconds / n * 1e3:7.3f} ms/run  "
              f"{100 * seconds / n / ONE_MINUTE:.5f}% of a 1-min run")

    print("\n3. report matrices per run (conv beta_vae, dsprites, 1 torch thread)")
    for samples in (5000, 2000):
        seconds = min(matrices_time(samples) for _ in range(args.repeats))
        print(f"  {samples:>5} samples  {seconds:6.2f} s  {100 * seconds / ONE_MINUTE:5.1f}% of a 1-min run")
    return 0


def matrices_time(num_samples: int) -> float:
    """Seconds of :func:`~disentkit.study.runner.score_matrices` for an untrained conv beta-VAE."""
    import torch

    from disentkit import data, methods
    from disentkit.study.runner import score_matrices

    torch.set_num_threads(1)
    dataset = data.get("dsprites")
    model = methods.get("beta_vae", dataset.observation_shape, seed=0).eval()
    start = time.perf_counter()
    score_matrices(dataset, model, seed=0, num_samples=num_samples)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
