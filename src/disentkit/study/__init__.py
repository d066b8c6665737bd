"""Studies: declarative grids of runs, local and Ray executors, a DuckDB results store and a report.

>>> from disentkit.study import StudySpec, run_study, load
>>> result = run_study("quickstart", "studies/quickstart")       # doctest: +SKIP
>>> frame = load("studies/quickstart")                             # one row per run  # doctest: +SKIP
"""

from disentkit.study.runner import StudyResult, run_study
from disentkit.study.spec import RunSpec, StudySpec, builtin_names
from disentkit.study.store import load, status_counts, write_store
from disentkit.study.worker import execute_run

__all__ = ["RunSpec", "StudyResult", "StudySpec", "builtin_names", "execute_run", "load", "run_study",
           "status_counts", "write_store"]
