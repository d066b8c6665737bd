"""Chen et al.'s MIG on sampled codes and the full encoder posterior (Chen, Li, Grosse, Duvenaud,
NeurIPS 2018, "Isolating Sources of Disentanglement in VAEs"; ``disentanglement_metrics.py`` of the
official code).

Unlike disentanglement_lib's discrete MIG (histograms of mean codes), the entropies are estimated
from the encoder's Gaussian posteriors ``q(z|x_n) = N(mu_n, diag exp(logvar_n))`` and one sampled
code ``z_n ~ q(z|x_n)`` per datapoint:

- ``H(z_d) ~ -(1/S) sum_s log[(1/N) sum_n q(z_sd | x_n)]`` over ``S`` of the ``N`` samples;
- ``H(z_d | v_k = v)``: the same with samples and mixture restricted to the points with
  ``v_k = v``; ``H(z_d | v_k) = sum_v p(v) H(z_d | v_k = v)``;
- ``I(z_d; v_k) = max(H(z_d) - H(z_d | v_k), 0)``; with ``I_(1)k >= I_(2)k`` the two largest over
  ``d``, ``MIG = (1/K) sum_k (I_(1)k - I_(2)k) / H(v_k)``, with ``H(v_k)`` the empirical entropy of
  the sampled factor column (``log |V_k|`` when ``|V_k|`` divides ``N``, as on the grid).

The official code evaluates this on the full factor grid (every factor value equally often). Here
the dataset is sampled instead: ``num_samples`` factor vectors in which every factor column is
*balanced* (each value appears ``floor(N / |V_k|)`` or one more times, in random order, the
columns shuffled independently), so each conditional subset ``v_k = v`` is as close as possible
to ``N / |V_k|`` points, as on the grid.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.metrics._information import factor_entropies
from disentkit.metrics._representation import (
    Representation,
    _is_module,
    _module_device,
    encode_factors,
    posterior_of,
)
from disentkit.validation import check_int

__all__ = ["mig_sampled", "balanced_factors", "mixture_entropy"]

# Elements of one (chunk, M, D) log-density block of mixture_entropy (128 MiB of float64).
_BLOCK_ELEMENTS = 2**24
_LOG_2PI = float(np.log(2.0 * np.pi))


def balanced_factors(sizes: Sequence[int], n: int, rng: RandomLike) -> np.ndarray:
    """``n`` factor vectors (n, F) int64 whose every column is balanced and randomly ordered.

    Column ``k`` holds each of the ``sizes[k]`` values ``n // sizes[k]`` times plus ``n % sizes[k]``
    distinct values drawn without replacement, shuffled; columns are shuffled independently.
    """
    gen = check_random_state(rng)
    columns = []
    for size in sizes:
        base = np.tile(np.arange(size, dtype=np.int64), n // size)
        extra = gen.choice(size, size=n % size, replace=False).astype(np.int64)
        columns.append(gen.permutation(np.concatenate([base, extra])))
    return np.stack(columns, axis=1)


def mixture_entropy(samples: Any, mu: Any, logvar: Any) -> Any:
    """Per-dimension entropy of a diagonal-Gaussian mixture, estimated at ``samples``.

    ``H_d = -(1/S) sum_s log[(1/M) sum_m N(samples_sd; mu_md, exp(logvar_md))]`` for torch tensors
    ``samples`` (S, D) and ``mu``, ``logvar`` (M, D); returns (D,) in nats. Evaluated in chunks
    of samples (``logsumexp`` over the M components), on the tensors' device.
    """
    num_samples, dims = samples.shape
    components = mu.shape[0]
    # (D, M) layout: the logsumexp runs over the contiguous last axis.
    mean = mu.T.contiguous()
    half_inv_var = (0.5 * (-logvar).exp()).T.contiguous()
    norm = (-0.5 * (_LOG_2PI + logvar)).T.contiguous()
    chunk = max(1, _BLOCK_ELEMENTS // max(1, components * dims))
    total = samples.new_zeros(dims)
    for start in range(0, num_samples, chunk):
        block = samples[start : start + chunk, :, None] - mean  # (c, D, M)
        block.square_().mul_(half_inv_var).neg_().add_(norm)  # log N(z_sd; mu_md, var_md)
        total += block.logsumexp(dim=-1).sum(dim=0)
    return float(np.log(components)) - total / num_samples


def _entropy_of(
    index: np.ndarray, z: Any, mu: Any, logvar: Any, num_entropy_samples: int, gen: np.random.Generator
) -> Any:
    """Mixture entropy over the points ``index``, at up to ``num_entropy_samples`` of their samples."""
    import torch

    chosen = index
    if index.size > num_entropy_samples:
        chosen = np.sort(gen.choice(index, size=num_entropy_samples, replace=False))
    at = torch.as_tensor(index, device=mu.device)
    return mixture_entropy(z[torch.as_tensor(chosen, device=mu.device)], mu[at], logvar[at])


def mig_sampled(
    dataset: Any,
    representation: Any,
    *,
    rng: RandomLike = 0,
    factors: Sequence[str] | None = None,
    num_samples: int = 10_000,
    num_entropy_samples: int = 10_000,
    batch_size: int = 256,
    device: Any = None,
) -> dict[str, float]:
    """Chen et al.'s mutual information gap from sampled codes and the encoder's ``q(z|x)``.

    Parameters
    ----------
    dataset: a :class:`~disentkit.data.GroundTruthData`.
    representation: an object with ``encode(images) -> (mu, logvar)`` (an ``nn.Module`` of the
        VAE family, or a :class:`~disentkit.metrics._representation.Posterior`); a plain
        images -> codes function has no posterior and raises ``ValueError``.
    rng: an int seed or a numpy Generator for the factor sample, the rendering, the code samples and
        the entropy sub-samples.
    factors: the names of the scored factors, or ``None`` for all. Chen et al. score dSprites
        on ``("scale", "orientation", "posX", "posY")`` (shape is marginalised, not scored).
        Unscored factors still vary in the sample.
    num_samples: ``N``, the datapoints encoded (Chen et al. use the whole dataset).
    num_entropy_samples: ``S``, the samples at which each entropy is estimated (10,000 in Chen
        et al.); a mixture over fewer points uses all of its samples.
    batch_size: images per ``encode`` call.
    device: where the entropies are computed (default: the encoder module's device, else the CPU).

    Returns
    -------
    ``{"mig": ..., "mig:<factor name>": ...}``: the mean gap and the normalised gap
    ``(I_(1)k - I_(2)k) / H(v_k)`` of every scored factor. With one code dimension the second
    largest mutual information is taken as 0. A constant posterior (the same ``q(z|x)`` for every
    image) has no information about any factor: MIG 0 up to the sampling noise of the entropy
    estimates. Log-variances so extreme that the
    densities under- or overflow (about ``|logvar| > 700``) raise ``ValueError``.
    """
    import torch

    num_samples = check_int("num_samples", num_samples, 2)
    num_entropy_samples = check_int("num_entropy_samples", num_entropy_samples, 1)
    space = dataset.factor_space
    names = list(space.names) if factors is None else [str(f) for f in factors]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"factors must be distinct names of {list(space.names)}, got {factors!r}")
    scored = [space.factor_index(name) for name in names]
    for k in scored:
        if space.sizes[k] < 2:
            raise ValueError(f"factor {space.names[k]!r} has a single value and cannot be scored")
    posterior = posterior_of(representation, batch_size=batch_size, device=device)
    gen = check_random_state(rng)

    factor_values = balanced_factors(space.sizes, num_samples, gen)
    stacked = encode_factors(
        dataset, lambda images: np.concatenate(posterior(images), axis=1), factor_values, gen
    )  # (N, 2D): mu, then logvar
    dims = stacked.shape[1] // 2
    mu_np, logvar_np = stacked[:, :dims], stacked[:, dims:]
    z_np = mu_np + np.exp(0.5 * logvar_np) * gen.standard_normal(mu_np.shape)

    target = torch.device(device) if device is not None else _device_of(representation)
    mu = torch.as_tensor(mu_np, dtype=torch.float64, device=target)
    logvar = torch.as_tensor(logvar_np, dtype=torch.float64, device=target)
    z = torch.as_tensor(z_np, dtype=torch.float64, device=target)

    every = np.arange(num_samples)
    marginal = _entropy_of(every, z, mu, logvar, num_entropy_samples, gen)
    entropies = factor_entropies(factor_values[:, scored])
    gaps = {}
    for position, k in enumerate(scored):
        column = factor_values[:, k]
        conditional = torch.zeros(dims, dtype=torch.float64, device=target)
        for value in np.unique(column):
            index = np.flatnonzero(column == value)
            conditional += (index.size / num_samples) * _entropy_of(
                index, z, mu, logvar, num_entropy_samples, gen
            )
        info = torch.clamp(marginal - conditional, min=0.0).cpu().numpy()
        top = np.sort(info)[::-1]
        second = top[1] if top.size > 1 else 0.0
        gaps[space.names[k]] = float((top[0] - second) / entropies[position])
    scores = {"mig": float(np.mean(list(gaps.values())))}
    scores.update({f"mig:{name}": gap for name, gap in gaps.items()})
    if not all(np.isfinite(v) for v in scores.values()):
        raise ValueError(
            "mig_sampled: the entropy estimates are not finite: q(z|x) has log-variances from "
            f"{float(logvar_np.min()):.3g} to {float(logvar_np.max()):.3g}, whose Gaussian densities "
            "under- or overflow float64 (a posterior that collapsed to a point or exploded); "
            "score its mean codes with mig instead"
        )
    return scores


def _device_of(obj: Any) -> Any:
    """The device of an encoder module's parameters; the CPU otherwise."""
    import torch

    if isinstance(obj, Representation):
        obj = obj.source
    return _module_device(obj) if _is_module(obj) else torch.device("cpu")
