"""k-nearest-neighbour accuracy per factor on frozen features.

Every test code votes with its ``k`` nearest train codes: by cosine similarity of the
L2-normalised codes (default) or by Euclidean distance. The predicted class of a factor is the
majority label among the neighbours. Ties are broken deterministically:

- neighbours: ordered by decreasing similarity, then by increasing train index, and the first
  ``k`` of that order are taken (so a tie at the k-th place keeps the lower train indices);
- votes: among the classes with the most votes, the one whose nearest neighbour comes first in
  that order wins.

Similarities are matrix products of a chunk of test codes with all train codes (float64), so the
memory stays at about ``_CHUNK_ENTRIES`` floats whatever the split sizes.

Reference: the weighted-kNN monitor of Wu et al., "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination" (CVPR 2018) and Caron et al., DINO (ICCV 2021), here
with plain majority votes and applied per ground-truth factor; Cover & Hart, "Nearest Neighbor
Pattern Classification" (IEEE Trans. Inf. Theory 1967).
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

from disentkit.metrics._checks import check_factor_names, check_inputs
from disentkit.metrics._probe import majority_baseline
from disentkit.validation import check_int

__all__ = ["KNN_METRICS", "knn_accuracy", "nearest_neighbours", "majority_vote"]

KNN_METRICS = ("cosine", "euclidean")
# Entries of one (test chunk, train) similarity block: 8 M float64 = 64 MB.
_CHUNK_ENTRIES = 8_000_000


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; an all-zero row stays zero (similarity 0 to everything)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def _first_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Indices (c, k) of the ``k`` largest entries of each row of ``sim``, ordered by decreasing
    value, then increasing column index."""
    n = sim.shape[1]
    if k < n:
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(sim, top, axis=1).min(axis=1, keepdims=True)  # the k-th value
        above = sim > kth
        tied = sim == kth
        need = k - above.sum(axis=1, keepdims=True)
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))
        index = np.nonzero(chosen)[1].reshape(sim.shape[0], k)  # increasing index in each row
    else:
        index = np.broadcast_to(np.arange(n), sim.shape).copy()
    values = np.take_along_axis(sim, index, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")  # stable: equal values keep index order
    return np.take_along_axis(index, order, axis=1)


def nearest_neighbours(
    codes: np.ndarray, codes_test: np.ndarray, k: int, metric: str = "cosine"
) -> np.ndarray:
    """Train indices (N_test, k) of the ``k`` nearest train codes of every test code, nearest first.

    ``"cosine"``: similarity ``<u, v> / (|u| |v|)``; ``"euclidean"``: ``-|u - v|^2`` computed as
    ``2 <u, v> - |u|^2 - |v|^2``. Ties are ordered by increasing train index (module docstring).
    """
    if metric not in KNN_METRICS:
        raise ValueError(f"metric must be one of {KNN_METRICS}, got {metric!r}")
    train = np.asarray(codes, dtype=np.float64)
    test = np.asarray(codes_test, dtype=np.float64)
    if metric == "cosine":
        train, test = _unit_rows(train), _unit_rows(test)
    else:
        train_sq = np.einsum("ij,ij->i", train, train)
    train_t = np.ascontiguousarray(train.T)
    chunk = max(1, _CHUNK_ENTRIES // train.shape[0])
    out = np.empty((test.shape[0], k), dtype=np.int64)
    for start in range(0, test.shape[0], chunk):
        block = test[start : start + chunk]
        sim = block @ train_t
        if metric == "euclidean":
            sim = 2.0 * sim - train_sq[None, :] - np.einsum("ij,ij->i", block, block)[:, None]
        out[start : start + chunk] = _first_k(sim, k)
    return out


def majority_vote(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The winning label (c,) of each row of ``neighbour_labels`` (c, k), labels in
    ``0..num_classes-1`` ordered nearest first: most votes, then the earliest first vote."""
    c, k = neighbour_labels.shape
    rows = np.arange(c)
    counts = np.bincount((rows[:, None] * num_classes + neighbour_labels).ravel(),
                         minlength=c * num_classes).reshape(c, num_classes)
    first = np.full((c, num_classes), k)
    for position in range(k - 1, -1, -1):  # k vector steps; the nearest position is written last
        first[rows, neighbour_labels[:, position]] = position
    return np.argmax(counts * (k + 1) + (k - first), axis=1)


def knn_accuracy(
    codes: Any,
    factors: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    k: int = 20,
    metric: Literal["cosine", "euclidean"] = "cosine",
    factor_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """Test accuracy per factor of a k-nearest-neighbour majority vote on frozen codes.

    The ``k`` nearest train codes of each test code are found once
    (:func:`nearest_neighbours`; ``metric`` ``"cosine"`` on L2-normalised codes or
    ``"euclidean"``) and vote for every factor (:func:`majority_vote`; ties as in the module
    docstring). Factors are discrete class indices; a test class never seen in training counts as
    an error.

    Returns
    -------
    ``test_accuracy`` and ``baseline_accuracy`` (means over factors), and
    ``test_accuracy:<factor>``, ``baseline_accuracy:<factor>`` per factor, the factor labelled by
    ``factor_names`` (default ``"0"``, ``"1"``, ...). The baseline is the majority-class accuracy of
    the test split (:func:`~disentkit.metrics._probe.majority_baseline`).

    Constant codes (every train code the same vector, or all zero under ``"cosine"``): every
    similarity ties, so by the tie rule the first ``k`` train rows are every test code's
    neighbours and their majority label is the answer for every test code.

    Raises
    ------
    ValueError: bad arrays, ``k`` not an integer in ``1..N_train``, an unknown ``metric``.
    """
    codes, factors, codes_test, factors_test = check_inputs(
        codes, factors, codes_test, factors_test, metric="knn", require_test=True
    )
    k = check_int("k", k, 1)
    if k > codes.shape[0]:
        raise ValueError(f"k must be at most the {codes.shape[0]} train samples, got {k}")
    if metric not in KNN_METRICS:
        raise ValueError(f"metric must be one of {KNN_METRICS}, got {metric!r}")
    names = check_factor_names(factor_names, factors.shape[1], metric="knn")
    neighbours = nearest_neighbours(codes, codes_test, k, metric)
    test_acc, baseline = {}, {}
    for j, name in enumerate(names):
        classes, labels = np.unique(factors[:, j], return_inverse=True)
        predicted = classes[majority_vote(labels.reshape(-1)[neighbours], classes.size)]
        test_acc[name] = float(np.mean(predicted == factors_test[:, j]))
        baseline[name] = majority_baseline(factors_test[:, j])
    scores = {
        "test_accuracy": float(np.mean(list(test_acc.values()))),
        "baseline_accuracy": float(np.mean(list(baseline.values()))),
    }
    scores.update({f"test_accuracy:{name}": value for name, value in test_acc.items()})
    scores.update({f"baseline_accuracy:{name}": value for name, value in baseline.items()})
    return scores
