"""Shared test setup: one torch thread (a busy 2-core CI machine is much slower with two)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
