"""The factorised-support (FoS) diagnostic of HFS (Roth et al., ICLR 2023; spec ``methods_vae.md``
§3.6): how far the codes' support is from the product of its per-dimension supports.

The codes are split into batches of ``batch_size`` (128) rows; on each, the hard pairwise Hausdorff
distance of :func:`disentkit.methods.losses.hausdorff_factorized_support` (``max`` over product
points of the ``min`` over actual points of the squared distance) is computed for every latent
pair; ``fos`` is its sum over the pairs, averaged over the batches (the scale of the HFS training
loss, on raw codes), ``fos_per_pair`` the same divided by the number of pairs. 0 means that every
pair's support is (on these points) a full product; it says nothing about the factors, so the
factors are not read. Codes with more than ``max_pairs`` pairs (45: every pair of 10 latents)
are scored on ``max_pairs`` pairs drawn without replacement from ``seed``, and
``fos`` is then scaled to all pairs (``fos_per_pair`` times their number).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from disentkit.methods.losses import hausdorff_factorized_support
from disentkit.metrics._checks import check_codes
from disentkit.validation import check_int

__all__ = ["fos"]

_PAIR_CHUNK = 8  # pairs per call: 8 * 128^3 float64 distances, about 134 MB


def fos(codes: Any, factors: Any = None, *, batch_size: int = 128, num_batches: int = 8, max_pairs: int = 45,
        seed: int = 0) -> dict[str, float]:
    """The FoS diagnostic of codes (N, D) over the first ``num_batches`` batches of ``batch_size``
    rows (fewer when N is smaller; at least one full batch is needed). ``factors`` is ignored (so
    the function has the array-metric signature)."""
    codes = check_codes(codes, name="fos: codes")
    batch_size = check_int("batch_size", batch_size, 2)
    num_batches = check_int("num_batches", num_batches, 1)
    max_pairs = check_int("max_pairs", max_pairs, 1)
    n, d = codes.shape
    if d < 2:
        raise ValueError(f"fos needs at least two code dimensions, got {d}")
    if n < batch_size:
        raise ValueError(f"fos needs at least batch_size={batch_size} codes, got {n}")
    batches = min(num_batches, n // batch_size)
    all_pairs = np.array(list(itertools.combinations(range(d), 2)))
    if len(all_pairs) > max_pairs:
        chosen = np.random.default_rng(check_int("seed", seed, 0)).choice(len(all_pairs), max_pairs, replace=False)
        pairs = torch.from_numpy(all_pairs[np.sort(chosen)])
    else:
        pairs = torch.from_numpy(all_pairs)
    values = []
    with torch.no_grad():
        for k in range(batches):
            batch = torch.from_numpy(codes[k * batch_size:(k + 1) * batch_size])
            values.append(sum(hausdorff_factorized_support(batch, chunk).item()
                              for chunk in pairs.split(_PAIR_CHUNK)))
    per_pair = float(np.mean(values)) / len(pairs)
    return {"fos": per_pair * len(all_pairs), "fos_per_pair": per_pair}
