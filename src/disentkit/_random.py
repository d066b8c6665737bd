"""Explicit random number generation: every source of randomness is a seed or a generator."""

from __future__ import annotations

from typing import Union

import numpy as np

RandomLike = Union[int, np.integer, np.random.Generator, np.random.RandomState, None]


def check_random_state(rng: RandomLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    Parameters
    ----------
    rng:
        An int seed (a new ``default_rng(seed)``), a ``Generator`` (returned as is, so draws
        advance it), or a legacy ``RandomState`` (wrapped around the *same* bit generator, so draws
        advance the RandomState too and stay reproducible from its seed). ``None`` is rejected:
        disentkit never falls back to global or entropy-seeded randomness.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.Generator(rng._bit_generator)  # shares state with the RandomState
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"a seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(int(rng))
    raise ValueError(
        "rng must be an int seed, a numpy Generator or a numpy RandomState "
        f"(disentkit has no hidden global randomness), got {type(rng).__name__}"
    )
