"""Representations as numpy functions, and the shared "render then encode" step of the metrics.

A *representation* is anything that maps images to codes:

- a plain callable ``f(images) -> codes``: it gets a float32 numpy array (n, C, H, W) and may
  return a numpy array or a torch tensor (n, D);
- an ``nn.Module`` with a ``represent(images)`` method (every :class:`disentkit.methods.Method`):
  it is called on torch tensors on the module's device, under ``torch.no_grad()`` and in eval mode
  (the module's train/eval mode is restored afterwards).

:func:`as_representation` turns either into a :class:`Representation`, a numpy -> numpy function
that encodes in batches and checks every output (2-D, one row per image, finite, the same D in
every batch). Models of the VAE family also expose ``encode(images) -> (mu, logvar)`` (the
log-variance convention) and declare it in ``capabilities.gaussian_posterior``
(:func:`has_posterior`); :func:`posterior_of` wraps that, and :func:`sampled_representation`
draws one code per image from ``q(z|x) = N(mu, exp(logvar))`` (disentanglement_lib's
``sampled_representation`` postprocessing).

Images are rendered and encoded in chunks of at most ``_CHUNK_BYTES`` of float32 pixels
(:func:`encode_factors`), so metrics can ask for hundreds of thousands of images without holding
them all in memory.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.validation import check_int

__all__ = [
    "Representation",
    "Posterior",
    "as_representation",
    "posterior_of",
    "has_posterior",
    "missing_posterior",
    "sampled_representation",
    "encode_factors",
    "encode_groups",
    "sample_codes",
    "images_per_chunk",
]

# Upper bound on the float32 pixels rendered at once by encode_factors (256 MiB).
_CHUNK_BYTES = 256 * 2**20


def _check_images(images: Any) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"images must be a 4-D array (N, C, H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"images must be float32 in [0, 1], got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _to_numpy(value: Any, what: str) -> np.ndarray:
    """A numpy copy of a numpy array or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{what} must be a real numeric array, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def _check_output(arr: np.ndarray, num_images: int, what: str) -> np.ndarray:
    if arr.ndim != 2:
        raise ValueError(
            f"{what} must return a 2-D array (N, D), one row per image, got shape {arr.shape}"
        )
    if arr.shape[0] != num_images:
        raise ValueError(f"{what} returned {arr.shape[0]} rows for {num_images} images")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{what} returned NaN or infinite values (first at row {bad[0]}, column {bad[1]})"
        )
    return arr


def _is_module(obj: Any) -> bool:
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, nn.Module)


def _module_device(module: Any) -> Any:
    """The device of the module's first parameter (or buffer); the CPU for a module without any."""
    import torch

    for tensor in list(module.parameters()) + list(module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _module_dtype(module: Any) -> Any:
    import torch

    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextlib.contextmanager
def _inference(module: Any) -> Iterator[None]:
    """Eval mode and ``torch.no_grad()`` for the duration; the previous mode is restored."""
    import torch

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def _module_caller(module: Any, method: str, device: Any) -> Callable[[np.ndarray], Any]:
    """A function numpy images -> the raw output of ``module.<method>`` on tensors on ``device``."""
    import torch

    target = torch.device(device) if device is not None else _module_device(module)
    dtype = _module_dtype(module)
    bound = getattr(module, method)

    def call(images: np.ndarray) -> Any:
        return bound(torch.from_numpy(images).to(device=target, dtype=dtype))

    return call


class Representation:
    """A numpy -> numpy representation: images (N, C, H, W) float32 -> codes (N, D).

    Built by :func:`as_representation`. Calls the wrapped function on batches of ``batch_size``
    images and validates every output; ``source`` is the object it was built from (used by
    :func:`posterior_of` and :func:`has_posterior`).
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray], Any],
        *,
        batch_size: int = 256,
        source: Any = None,
        context: Callable[[], Any] | None = None,
        name: str = "representation",
    ) -> None:
        self._fn = fn
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.source = source
        self._context = context or contextlib.nullcontext
        self.name = name

    def __call__(self, images: Any) -> np.ndarray:
        """Codes of ``images``: (N, D) float32 or float64 (the dtype the representation gives)."""
        images = _check_images(images)
        n = images.shape[0]
        if n == 0:
            raise ValueError("cannot encode an empty batch of images")
        parts = []
        with self._context():
            for start in range(0, n, self.batch_size):
                batch = images[start : start + self.batch_size]
                out = _check_output(_to_numpy(self._fn(batch), self.name), batch.shape[0], self.name)
                if parts and out.shape[1] != parts[0].shape[1]:
                    raise ValueError(
                        f"{self.name} returned {out.shape[1]} code dimensions for one batch and "
                        f"{parts[0].shape[1]} for another"
                    )
                parts.append(out)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts, axis=0, dtype=np.result_type(*parts))

    def __repr__(self) -> str:
        return f"<Representation {self.name}, batch_size={self.batch_size}>"


class Posterior:
    """``encode`` as a numpy function: images (N, C, H, W) -> ``(mu, logvar)``, each (N, D) float64.

    ``q(z|x) = N(mu, diag(exp(logvar)))`` (the log-variance convention of the VAE family).
    Built by :func:`posterior_of`.
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray], Any],
        *,
        batch_size: int = 256,
        context: Callable[[], Any] | None = None,
        name: str = "encode",
    ) -> None:
        self._fn = fn
        self.batch_size = check_int("batch_size", batch_size, 1)
        self._context = context or contextlib.nullcontext
        self.name = name

    def __call__(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        images = _check_images(images)
        n = images.shape[0]
        if n == 0:
            raise ValueError("cannot encode an empty batch of images")
        mus, logvars = [], []
        with self._context():
            for start in range(0, n, self.batch_size):
                batch = images[start : start + self.batch_size]
                out = self._fn(batch)
                if not isinstance(out, (tuple, list)) or len(out) != 2:
                    raise ValueError(
                        f"{self.name} must return a pair (mu, logvar) of (N, D) arrays, "
                        f"got {type(out).__name__}"
                    )
                mu = _check_output(_to_numpy(out[0], f"{self.name} (mu)"), batch.shape[0], f"{self.name} (mu)")
                lv = _check_output(
                    _to_numpy(out[1], f"{self.name} (logvar)"), batch.shape[0], f"{self.name} (logvar)"
                )
                if mu.shape != lv.shape:
                    raise ValueError(
                        f"{self.name} returned mu of shape {mu.shape} but logvar of shape {lv.shape}"
                    )
                if mus and mu.shape[1] != mus[0].shape[1]:
                    raise ValueError(f"{self.name} returned a different code size for one batch")
                mus.append(mu.astype(np.float64, copy=False))
                logvars.append(lv.astype(np.float64, copy=False))
        return np.concatenate(mus, axis=0), np.concatenate(logvars, axis=0)

    def __repr__(self) -> str:
        return f"<Posterior {self.name}, batch_size={self.batch_size}>"


def as_representation(obj: Any, *, batch_size: int = 256, device: Any = None) -> Representation:
    """Turn ``obj`` into a :class:`Representation` (numpy images -> numpy codes).

    Parameters
    ----------
    obj: a :class:`Representation` (returned unchanged), an ``nn.Module`` with a
        ``represent(images)`` method (called on torch tensors under ``torch.no_grad()`` in eval
        mode, the previous mode restored afterwards), or a plain callable taking float32 numpy
        images (N, C, H, W) and returning numpy codes or a torch tensor (N, D).
    batch_size: images per call of the wrapped function.
    device: modules only: where the input tensors go (default: the device of the module's first
        parameter). The module itself is not moved.

    Raises
    ------
    ValueError: a module without ``represent``, an object that is not callable, a bad batch size.
    """
    if isinstance(obj, Representation):
        return obj
    batch_size = check_int("batch_size", batch_size, 1)
    if _is_module(obj):
        if not callable(getattr(obj, "represent", None)):
            raise ValueError(
                f"an nn.Module representation needs a represent(images) method; {type(obj).__name__} "
                "has none (wrap it in a function images -> codes instead)"
            )
        call = _module_caller(obj, "represent", device)
        return Representation(
            call,
            batch_size=batch_size,
            source=obj,
            context=lambda: _inference(obj),
            name=f"{type(obj).__name__}.represent",
        )
    if callable(obj):
        name = getattr(obj, "__name__", type(obj).__name__)
        return Representation(obj, batch_size=batch_size, source=obj, name=str(name))
    raise ValueError(
        "a representation must be a callable images -> codes or an nn.Module with a represent "
        f"method, got {type(obj).__name__}"
    )


def _source(obj: Any) -> Any:
    return obj.source if isinstance(obj, Representation) else obj


def missing_posterior(obj: Any) -> str | None:
    """Why ``obj`` has no Gaussian posterior ``q(z|x)``, in one line; ``None`` when it has one.

    An object with a ``capabilities`` attribute (every :class:`disentkit.methods.Method`: a
    frozen ``Capabilities`` with a boolean ``gaussian_posterior``) is trusted: the flag decides.
    An object without one (a plain callable, a TorchScript module, a researcher's own encoder)
    has a posterior when it has a callable ``encode``. A :class:`Posterior` is one; a
    :class:`Representation` is judged by the object it was built from.
    """
    if isinstance(obj, Posterior):
        return None
    obj = _source(obj)
    capabilities = getattr(obj, "capabilities", None)
    if capabilities is not None:
        flag = getattr(capabilities, "gaussian_posterior", None)
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(
                f"{type(obj).__name__}.capabilities must have a boolean gaussian_posterior field "
                f"(disentkit.methods.base.Capabilities), got {capabilities!r}"
            )
        if flag:
            return None
        return f"{type(obj).__name__} declares capabilities.gaussian_posterior = False"
    if callable(getattr(obj, "encode", None)):
        return None
    return f"{type(obj).__name__} has no encode(images) -> (mu, logvar) method"


def has_posterior(obj: Any) -> bool:
    """Whether ``obj`` has a Gaussian posterior ``q(z|x)`` (see :func:`missing_posterior`)."""
    return missing_posterior(obj) is None


def posterior_of(obj: Any, *, batch_size: int = 256, device: Any = None) -> Posterior:
    """The encoder posterior of ``obj`` as a numpy function images -> ``(mu, logvar)``.

    ``obj`` (or the source of a :class:`Representation`) must have ``encode(images) -> (mu,
    logvar)`` with ``logvar = log sigma^2``: an ``nn.Module`` (called like ``represent``, see
    :func:`as_representation`) or any object whose ``encode`` takes numpy images.

    Raises
    ------
    ValueError: ``obj`` has no posterior (:func:`missing_posterior`: its ``capabilities`` say so,
    or, without ``capabilities``, it has no ``encode``; for example a plain callable).
    """
    if isinstance(obj, Posterior):
        return obj
    obj = _source(obj)
    batch_size = check_int("batch_size", batch_size, 1)
    reason = missing_posterior(obj)
    if reason is not None:
        raise ValueError(
            f"{reason}; metrics on sampled codes (mig_sampled, codes='sampled') need the "
            "encoder's Gaussian posterior q(z|x) (encode(images) -> (mu, logvar))"
        )
    name = f"{type(obj).__name__}.encode"
    if _is_module(obj):
        call = _module_caller(obj, "encode", device)
        return Posterior(call, batch_size=batch_size, context=lambda: _inference(obj), name=name)
    return Posterior(obj.encode, batch_size=batch_size, name=name)


def sampled_representation(
    obj: Any, rng: RandomLike, *, batch_size: int = 256, device: Any = None
) -> Representation:
    """One code per image drawn from the posterior: ``z = mu + exp(logvar / 2) * eps``.

    ``eps ~ N(0, I)`` comes from ``rng`` (numpy), in the order the images are encoded, so the
    codes are reproducible whatever the device. disentanglement_lib's ``sampled_representation``.
    """
    posterior = posterior_of(obj, batch_size=batch_size, device=device)
    gen = check_random_state(rng)

    def sample(images: np.ndarray) -> np.ndarray:
        mu, logvar = posterior(images)
        return mu + np.exp(0.5 * logvar) * gen.standard_normal(mu.shape)

    # The posterior batches internally; one call per chunk here.
    return Representation(sample, batch_size=2**31 - 1, source=obj, name=f"sampled {posterior.name}")


# ----------------------------------------------------------------------- render, then encode
def images_per_chunk(observation_shape: tuple[int, ...], max_bytes: int = _CHUNK_BYTES) -> int:
    """How many float32 images of ``observation_shape`` fit in ``max_bytes`` (at least 1)."""
    return max(1, int(max_bytes) // (4 * int(np.prod(observation_shape))))


def encode_factors(
    dataset: Any,
    representation: Callable[[np.ndarray], np.ndarray],
    factors: np.ndarray,
    rng: RandomLike,
) -> np.ndarray:
    """Render ``factors`` (n, F) with ``dataset`` and encode them: codes (n, D).

    Rendering uses ``rng`` (for stochastic datasets) and goes in chunks that fit
    ``_CHUNK_BYTES``; each chunk is encoded by ``representation`` (which batches further).
    """
    gen = check_random_state(rng)
    factors = np.asarray(factors)
    chunk = images_per_chunk(dataset.observation_shape)
    parts = [
        np.asarray(representation(dataset.observations(factors[start : start + chunk], gen)))
        for start in range(0, factors.shape[0], chunk)
    ]
    if not parts:
        raise ValueError("cannot encode zero images")
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def sample_codes(
    dataset: Any, representation: Callable[[np.ndarray], np.ndarray], n: int, rng: RandomLike
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` uniform factor vectors, render and encode them: ``(codes (n, D), factors (n, F))``.

    Same draw order as ``dataset.sample``: all factors first, then the images.
    """
    gen = check_random_state(rng)
    factors = dataset.sample_factors(n, gen)
    return encode_factors(dataset, representation, factors, gen), factors


def encode_groups(
    dataset: Any,
    representation: Callable[[np.ndarray], np.ndarray],
    factors: np.ndarray,
    rng: RandomLike,
    reduce: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Render and encode groups of factor vectors, reducing each group's codes as it goes.

    ``factors`` is (P, G, F): P groups of G factor vectors (a beta-VAE pair of batches, a
    FactorVAE vote). Whole groups are rendered together in chunks that fit ``_CHUNK_BYTES``, the
    codes of a chunk are reshaped to (p, G, D) and ``reduce`` maps them to (p, ...); the results are
    concatenated along the first axis. Memory stays bounded by the chunk, never by P * G * D.
    """
    gen = check_random_state(rng)
    factors = np.asarray(factors)
    if factors.ndim != 3 or factors.shape[0] == 0 or factors.shape[1] == 0:
        raise ValueError(f"factors must be a non-empty (P, G, F) array, got shape {factors.shape}")
    num_groups, group, num_factors = factors.shape
    per_chunk = max(1, images_per_chunk(dataset.observation_shape) // group)
    parts = []
    for start in range(0, num_groups, per_chunk):
        block = factors[start : start + per_chunk]
        images = dataset.observations(block.reshape(-1, num_factors), gen)
        codes = np.asarray(representation(images))
        parts.append(np.asarray(reduce(codes.reshape(block.shape[0], group, -1))))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
