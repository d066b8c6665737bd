"""Infinite, seeded, resumable training batch streams (and a torch ``IterableDataset`` adapter).

Training is i.i.d. sampling with replacement, with no epochs (disentanglement_lib's
``tf_data_set_from_ground_truth_data``), but a whole batch is drawn and rendered at once. Each
stream owns one numpy ``Generator`` seeded by ``seed``; a batch sampler
(:mod:`disentkit.data.batch`) draws the factors, renders them and augments them with that one
generator, so the stream is a pure function of the seed.

>>> import disentkit.data as dd
>>> stream = BatchStream(dd.get("dsprites"), batch_size=64, seed=0)
>>> batch = next(stream)                      # a Batch of torch tensors
>>> batch.images.shape, batch.factors[0].shape   # float32 (64, 1, 64, 64), int64 (64, 5)
>>> state = stream.state_dict()               # store it with the checkpoint ...
>>> stream.load_state_dict(state)             # ... and continue exactly where it stopped
"""

from __future__ import annotations

import copy
import os
import queue
import threading
from typing import Any, Iterator

import numpy as np
import torch

from disentkit.data.base import GroundTruthData
from disentkit.data.batch import Batch, BatchSampler, ImageBatches, PairBatches
from disentkit.data.samplers import FactorSampler, WeakPairSampler
from disentkit.validation import check_int

__all__ = ["BatchStream", "StreamDataset"]

_STOP = object()


class BatchStream:
    """An infinite iterator of training batches as torch tensors.

    Yields :class:`~disentkit.data.batch.Batch` objects whose arrays are torch tensors on ``device``
    (images float32 (B, C, H, W), factors int64 (B, F)).

    Parameters
    ----------
    dataset: the ground-truth dataset (its ``observations`` renders a whole batch).
    batch_size: items per batch (``>= 1``; per view).
    seed: the seed of the stream's generator (a non-negative int).
    sampler: the factor sampler of single-image batches (default uniform).
    pairs: a weak-pair sampler: the stream yields pair batches (not combined with ``sampler``).
    batches: any batch sampler (:class:`~disentkit.data.batch.BatchSampler`, e.g. augmented
        views); not combined with ``sampler`` or ``pairs``.
    device: where the tensors go.
    cache: ``True`` or a folder: read images from the on-disk grid cache
        (:class:`~disentkit.data.cache.CachedData`, built on first use); deterministic datasets only.
    prefetch: batches rendered ahead in a background thread (0: none). Prefetching does not
        change the batches or the resume position.

    Resuming: :meth:`state_dict` captures the generator state after the last batch handed out and
    the count of batches drawn; a stream given that state with :meth:`load_state_dict` yields the
    same batches as the uninterrupted stream.
    """

    def __init__(
        self,
        dataset: GroundTruthData,
        batch_size: int,
        seed: int,
        sampler: FactorSampler | None = None,
        pairs: WeakPairSampler | None = None,
        batches: BatchSampler | None = None,
        device: str | torch.device = "cpu",
        cache: bool | str | os.PathLike | None = None,
        prefetch: int = 0,
    ):
        if not isinstance(dataset, GroundTruthData):
            raise ValueError(f"dataset must be a GroundTruthData, got {type(dataset).__name__}")
        check_int("batch_size", batch_size, 1)
        check_int("seed", seed, 0)
        check_int("prefetch", prefetch, 0)
        if sum(x is not None for x in (sampler, pairs, batches)) > 1:
            raise ValueError("give one of sampler=, pairs= or batches= (a pair or view sampler has its own factor sampler)")
        if cache and batches is not None:
            raise ValueError("cache= applies to sampler= or pairs=; build the batch sampler on a CachedData instead")
        if cache:
            from disentkit.data.cache import CachedData

            dataset = CachedData(dataset, folder=None if cache is True else cache)
        if batches is None:
            batches = PairBatches(dataset, pairs) if pairs is not None else ImageBatches(dataset, sampler)
        elif not isinstance(batches, BatchSampler):
            raise ValueError(f"batches must be a batch sampler with draw(n, rng), got {type(batches).__name__}")
        elif batches.factor_space != dataset.factor_space:
            raise ValueError(f"the batch sampler's factors ({batches.factor_space.describe()}) differ from the "
                             f"dataset's ({dataset.factor_space.describe()})")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.batches = batches
        self.device = torch.device(device)
        self.prefetch = int(prefetch)
        self._gen = np.random.default_rng(self.seed)
        self._state = self._gen.bit_generator.state  # the position after the last batch handed out
        self._batches = 0
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()

    # -- drawing ------------------------------------------------------------------------------
    def _draw(self) -> Batch:
        """Draw and render one batch (advances the generator)."""
        return self.batches.draw(self.batch_size, self._gen)

    def _producer(self) -> None:
        q = self._queue
        assert q is not None

        def put(item: tuple[Any, Any]) -> None:
            while not self._stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        try:
            while not self._stop.is_set():
                arrays = self._draw()
                put((arrays, self._gen.bit_generator.state))
        except BaseException as exc:  # hand the error to the consumer
            put((_STOP, exc))

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        if self.prefetch == 0:
            arrays = self._draw()
            self._state = self._gen.bit_generator.state
        else:
            if self._thread is None:
                self._queue = queue.Queue(maxsize=self.prefetch)
                self._stop.clear()
                self._thread = threading.Thread(target=self._producer, daemon=True, name="BatchStream")
                self._thread.start()
            assert self._queue is not None
            arrays, state = self._queue.get()
            if arrays is _STOP:
                self._shutdown()
                raise state
            self._state = state
        self._batches += 1
        return arrays.to_torch(self.device)

    # -- resuming -----------------------------------------------------------------------------
    @property
    def batches_drawn(self) -> int:
        """The number of batches handed out so far (including those before a resume)."""
        return self._batches

    def state_dict(self) -> dict[str, Any]:
        """The stream position: ``{"seed", "batch_size", "batches", "bit_generator"}`` (JSON-able)."""
        return {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "batches": self._batches,
            "bit_generator": copy.deepcopy(self._state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a stream with the same seed and batch size."""
        missing = {"seed", "batch_size", "batches", "bit_generator"} - set(state)
        if missing:
            raise ValueError(f"a stream state needs the keys seed, batch_size, batches, bit_generator; missing {sorted(missing)}")
        if state["seed"] != self.seed or state["batch_size"] != self.batch_size:
            raise ValueError(
                f"the state is of a stream with seed={state['seed']}, batch_size={state['batch_size']}; "
                f"this stream has seed={self.seed}, batch_size={self.batch_size}"
            )
        self._shutdown()
        gen = np.random.default_rng()
        if gen.bit_generator.state["bit_generator"] != state["bit_generator"].get("bit_generator"):
            raise ValueError(f"unsupported bit generator state {state['bit_generator'].get('bit_generator')!r}")
        gen.bit_generator.state = copy.deepcopy(state["bit_generator"])
        self._gen = gen
        self._state = gen.bit_generator.state
        self._batches = int(state["batches"])

    # -- the background thread ----------------------------------------------------------------
    def _shutdown(self) -> None:
        """Stop the prefetch thread and rewind the generator to the last handed-out batch."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._queue = None
            self._gen.bit_generator.state = self._state

    def close(self) -> None:
        """Stop the prefetch thread (a later ``next`` restarts it at the same position)."""
        self._shutdown()

    def __enter__(self) -> "BatchStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._stop.set()
        except AttributeError:
            pass

    def __repr__(self) -> str:
        return (
            f"BatchStream({self.dataset!r}, batch_size={self.batch_size}, seed={self.seed}, "
            f"batches={self.batches!r}, batches_drawn={self._batches})"
        )


class StreamDataset(torch.utils.data.IterableDataset):
    """A ``torch.utils.data.IterableDataset`` of whole batches from :class:`BatchStream`.

    Use it with ``DataLoader(ds, batch_size=None, num_workers=w)``. With workers, worker ``i``
    streams from the seed sequence ``SeedSequence(seed, spawn_key=(i,))`` (independent streams);
    the loader takes batches from the workers in turn, so the order is fixed for a given ``w``.
    Without workers it yields exactly the batches of ``BatchStream(dataset, batch_size, seed)``.
    """

    def __init__(self, dataset: GroundTruthData, batch_size: int, seed: int, **stream_kwargs: Any):
        super().__init__()
        if "device" in stream_kwargs:
            raise ValueError("StreamDataset yields CPU tensors; move them to a device after the DataLoader")
        cache = stream_kwargs.pop("cache", None)
        if cache:
            from disentkit.data.cache import CachedData

            dataset = CachedData(dataset, folder=None if cache is True else cache)
        BatchStream(dataset, batch_size, seed, **stream_kwargs)  # validate the arguments now
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.stream_kwargs = stream_kwargs

    def __iter__(self) -> Iterator[Batch]:
        stream = BatchStream(self.dataset, self.batch_size, self.seed, **self.stream_kwargs)
        info = torch.utils.data.get_worker_info()
        if info is not None:
            seq = np.random.SeedSequence(self.seed, spawn_key=(info.id,))
            stream._gen = np.random.default_rng(seq)
            stream._state = stream._gen.bit_generator.state
        return stream
