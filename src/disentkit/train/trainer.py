"""The training loop: seeded, step-based, checkpointed, exactly resumable.

>>> from disentkit.train import TrainConfig, train, load_run
>>> cfg = TrainConfig(method="beta_vae", method_params={"beta": 4}, dataset="dsprites", steps=2000)
>>> run_dir = train(cfg, "runs/bvae4")            # ... killed? train(cfg, "runs/bvae4", resume=True)
>>> model = load_run(run_dir)                     # eval mode; model.represent(images) -> codes

Reproducibility: ``np.random.SeedSequence(seed)`` yields three words: the method's seed (weight
initialisation and the method's own noise generator), the batch-stream seed, and a seed for
torch's global generators (for methods that draw from them). A checkpoint stores
the weights, every optimiser state, the torch CPU and CUDA generator states, the stream position
and the pending log terms, so a resumed run ends bit-identical to an uninterrupted one on the same
machine (same thread count and device).

Resuming is guarded: every checkpoint records the resolved config it was written under and the
SHA-256 of its files (:mod:`disentkit.train.checkpoint`). ``resume=True`` takes the newest
checkpoint that verifies (a corrupt newer one is reported, and set aside as ``corrupt-step_N``),
refuses a config that differs from that checkpoint's (or from ``config.json``) outside
:data:`_RESUMABLE_CHANGES`, and refuses ``steps`` below the checkpoint's step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from disentkit.io import write_json_atomic
from disentkit.train import checkpoint as ckpt
from disentkit.train import config as _config
from disentkit.train.config import TrainConfig
from disentkit.train.log import IntervalLog

CONFIG_FILE = "config.json"
RUN_FILE = "run.json"
LOG_FILE = "train_log.jsonl"
CHECKPOINTS = "checkpoints"
# fields that may change when a run is resumed (they do not change the numbers); ``steps`` only for
# methods whose schedules do not depend on the run's length, and never below the checkpoint's step
_RESUMABLE_CHANGES = {"steps", "images", "checkpoint_every", "log_every", "keep_checkpoints", "prefetch"}


class CheckpointWarning(UserWarning):
    """A checkpoint failed verification and an older one is used instead (the message names it)."""


class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    def __init__(self, step: int, terms: dict[str, Any], checkpoint: Path | None):
        self.step = step
        self.terms = terms
        self.checkpoint = checkpoint
        kept = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint had been written"
        shown = ", ".join(f"{k}={v:.6g}" for k, v in terms.items())
        super().__init__(
            f"the loss is not finite at step {step} ({shown}); training stopped and {kept}. "
            "Try a lower learning rate or check the data."
        )


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other names are checked for availability."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; valid here: 'auto', 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but MPS is not available; valid here: 'auto', 'cpu'")
    return device


def derive_seeds(seed: int) -> tuple[int, int, int]:
    """The (method, stream, torch) seeds of a run seed: three words of ``np.random.SeedSequence(seed)``.

    The method seed initialises the weights and the method's own noise generator, the stream seed
    draws the batches, the torch seed seeds torch's global generators for any other draw.
    """
    words = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint32)
    return int(words[0]), int(words[1]), int(words[2])


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[int]:
    """Set torch's CPU thread count for the block (restored afterwards); yields the count used."""
    before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def build_method(config: TrainConfig, observation_shape: tuple[int, ...]) -> Any:
    """The method of ``config`` for images of ``observation_shape``, seeded from ``config.seed``."""
    return _config._method_registry().get(config.method, tuple(observation_shape), seed=derive_seeds(config.seed)[0],
                                          **config.method_params)


def build_dataset(config: TrainConfig) -> Any:
    """The dataset of ``config`` (the on-disk grid cache in front of it with ``config.cache``)."""
    dataset = _config._dataset_registry().get(config.dataset, **config.dataset_params)
    if config.cache:
        from disentkit.data.cache import CachedData

        dataset = CachedData(dataset)
    return dataset


def fill_from_dataset(config: TrainConfig, dataset: Any) -> TrainConfig:
    """``config`` with the method's dataset-dependent defaults filled in (β-TCVAE's
    ``dataset_size = len(dataset)`` when unset); the filled config is what ``config.json`` records."""
    registry = _config._method_registry()
    cls = registry.method_class(config.method)
    method_config = cls.fill_from_dataset(registry.config_for(config.method, config.method_params), dataset)
    unset = cls.config_class()
    params = dict(config.method_params)
    for key, value in dataclasses.asdict(method_config).items():
        if params.get(key) is None and getattr(unset, key) is None and value is not None:
            params[key] = value
    return config if params == config.method_params else config.replace(method_params=params)


def build_stream(config: TrainConfig, dataset: Any, method: Any, seed: int, device: torch.device) -> Any:
    """The batch stream of ``config``'s sampler (the method's default when it names none)."""
    from disentkit.data.batch_samplers import build_sampler
    from disentkit.data.streams import BatchStream

    batches = build_sampler(config.resolved_sampler(), config.sampler_params, dataset, config.dataset)
    if batches.kind != method.batch_kind or batches.num_views != method.num_views:
        raise ValueError(f"method {config.method!r} trains on {method.batch_kind!r} batches with {method.num_views} "
                         f"view(s); sampler {config.resolved_sampler()!r} makes {batches.kind!r} batches with "
                         f"{batches.num_views}")
    return BatchStream(dataset, config.batch_size, seed, batches=batches, device=device, prefetch=config.prefetch)


def _check_out_dir(run_dir: Path) -> None:
    """A run directory must be (or become) a folder: neither it nor an existing parent is a file."""
    for path in (run_dir, *run_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "is a file" if path == run_dir else f"cannot be made: {path} is a file"
                raise ValueError(f"the run directory {run_dir} {where}, not a folder; choose a folder for the run")
            return


def _trained(run_dir: Path) -> str | None:
    """What in ``run_dir`` shows that steps were trained (checkpoints, final weights), or None.

    A folder with only ``config.json`` / ``run.json`` / a log (a run that failed before its first
    checkpoint) holds nothing to continue: a new run may start over in it.
    """
    found = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
    if found:
        return f"checkpoint {found[-1][1]}"
    if (run_dir / ckpt.WEIGHTS).is_file():
        return f"final weights {run_dir / ckpt.WEIGHTS}"
    return None


class _Resumable:
    """The newest checkpoint that verifies, read into memory, and the newer ones that failed."""

    def __init__(self, folder: Path, state: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
                 failed: list[ckpt.CheckpointError]):
        self.folder, self.state, self.failed = folder, state, failed
        self.step = int(state[2]["step"])
        self.config = state[2].get("config")

    def set_failed_aside(self) -> list[str]:
        """Rename the checkpoints that failed to ``corrupt-step_N`` (kept for inspection, never loaded)."""
        moved = []
        for err in self.failed:
            target = err.folder.with_name(f"corrupt-{err.folder.name}")
            n = 1
            while target.exists():
                n += 1
                target = err.folder.with_name(f"corrupt-{err.folder.name}-{n}")
            os.replace(err.folder, target)
            moved.append(str(target))
        return moved


def _newest_verified(run_dir: Path) -> _Resumable | None:
    """The newest checkpoint of ``run_dir`` that verifies (None when there is none at all).

    Each one that fails is reported with a :class:`CheckpointWarning`; when none verifies, a
    one-line ValueError names every folder and file at fault.
    """
    found = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
    failed: list[ckpt.CheckpointError] = []
    for step, folder in reversed(found):
        try:
            state = ckpt.load_checkpoint(folder)
            if state[2]["step"] != step:
                raise ckpt.CheckpointError(folder, f"is corrupt: {ckpt.JSON_STATE} records step {state[2]['step']}")
        except ckpt.CheckpointError as err:
            failed.append(err)
            older = "trying an older checkpoint" if len(failed) < len(found) else "no older checkpoint is left"
            warnings.warn(f"{err}; {older}", CheckpointWarning, stacklevel=3)
            continue
        return _Resumable(folder, state, failed)
    if failed:
        raise ValueError(f"cannot resume {run_dir}: no checkpoint verifies ({'; '.join(map(str, failed))}); "
                         f"delete {run_dir} (or train into another folder) to start over")
    return None


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict with the parameter groups spread into dotted keys (``method_params.beta``)."""
    out: dict[str, Any] = {}
    for key, value in json.loads(json.dumps(config, default=str)).items():  # the values as JSON reads them
        if key in _config._PARAM_GROUPS and isinstance(value, dict):
            out.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            out[key] = value
    return out


def _read_saved_config(path: Path, *, required: bool) -> dict[str, Any] | None:
    """``config.json`` as a dict (None when absent). Unreadable: a ValueError naming it when
    ``required`` (nothing else records the config), else a warning (the checkpoint's config rules)."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"it holds a {type(saved).__name__}, not a config")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problem = f"{path} is unreadable ({type(err).__name__}: {err})"
        if required:
            raise ValueError(f"cannot resume: {problem}; restore it, or delete {path.parent} to start over") from None
        warnings.warn(f"{problem}; the checkpoint's config is used and {path.name} rewritten", CheckpointWarning,
                      stacklevel=4)
        return None
    return saved


def _check_resume(config: TrainConfig, run_dir: Path, resumable: _Resumable | None) -> None:
    """Refuse to continue ``run_dir`` under ``config`` when it would mix two runs.

    The config is compared with the resolved config recorded in the checkpoint resumed from and
    with ``config.json``: only the fields in :data:`_RESUMABLE_CHANGES` may differ (``steps`` not
    for methods whose schedules are laid over the run's length), and ``steps`` may not fall below
    the checkpoint's step.
    """
    recorded = resumable is not None and isinstance(resumable.config, dict)
    from_file = _read_saved_config(run_dir / CONFIG_FILE, required=not recorded)
    saved = {f"{CONFIG_FILE} ({run_dir / CONFIG_FILE})": from_file}
    if resumable is not None:
        saved = {f"checkpoint {resumable.folder}": resumable.config, **saved}
    saved = {where: cfg for where, cfg in saved.items() if isinstance(cfg, dict)}
    if not saved:
        where = f"checkpoint {resumable.folder}" if resumable is not None else f"{run_dir / ckpt.WEIGHTS}"
        raise ValueError(f"cannot resume {run_dir}: {CONFIG_FILE} is missing and {where} does not record the config "
                         f"it was trained with; restore {run_dir / CONFIG_FILE}, or delete {run_dir} to start over")
    allowed = set(_RESUMABLE_CHANGES)
    if _config._method_registry().method_class(config.method).schedules_depend_on_steps:
        allowed.discard("steps")  # the schedules (warm-up, cosine, EMA momentum) are laid over the run's length
    now = _flat(config.to_dict())
    for where, cfg in saved.items():
        before = _flat(cfg)
        changed = sorted(k for k in set(before) | set(now)
                         if before.get(k) != now.get(k) and k.partition(".")[0] not in allowed)
        if changed:
            shown = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise ValueError(
                f"cannot resume {run_dir}: the config differs in {changed} from the {where} ({shown}); "
                f"only {sorted(allowed)} may change on resume; train into another folder to change the others"
            )
    if resumable is not None and config.steps < resumable.step:
        raise ValueError(f"cannot resume {run_dir}: steps={config.steps} is below the step of its newest checkpoint "
                         f"{resumable.folder} ({resumable.step}); pass steps >= {resumable.step} (--steps), or "
                         "train into another folder")


def _environment(device: torch.device, threads: int) -> dict[str, Any]:
    from disentkit import __version__

    return {
        "device": str(device),
        "threads": threads,
        "torch": torch.__version__,
        "disentkit": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "pid": os.getpid(),
    }


class _Session:
    """The live objects of one run (method, optimisers, stream, log) and their checkpointing."""

    def __init__(self, config: TrainConfig, dataset: Any, device: torch.device, run_dir: Path):
        _, stream_seed, torch_seed = derive_seeds(config.seed)
        torch.manual_seed(torch_seed)
        self.config, self.device, self.root = config, device, run_dir / CHECKPOINTS
        self.method = build_method(config, dataset.observation_shape).to(device)
        if config.channels_last:
            self.method.to(memory_format=torch.channels_last)
        self.method.train()
        self.optimizers = self.method.configure_optimizers(config.steps)
        self.schedulers = self.method.configure_schedulers(self.optimizers, config.steps)
        self.stream = build_stream(config, dataset, self.method, stream_seed, device)
        self.images_per_step = config.batch_size * self.method.num_views
        self.log = IntervalLog(run_dir / LOG_FILE)
        self.autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                         if config.precision == "bf16" else contextlib.nullcontext())

    def restore(self, resumable: _Resumable) -> int:
        """Load a verified checkpoint (weights, optimisers, RNG, log, stream); returns its step."""
        weights, tensor_state, json_state = resumable.state
        try:
            self.method.load_state_dict(weights, strict=True)
            for name, opt in self.optimizers.items():
                opt.load_state_dict(tensor_state["optimizers"][name])
            for name, scheduler in self.schedulers.items():
                scheduler.load_state_dict(tensor_state["schedulers"][name])
            _set_rng_state(tensor_state["rng"], self.device)
            self.log.load_state_dict(tensor_state["log"])
            self.stream.load_state_dict(json_state["stream"])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise ValueError(f"checkpoint {resumable.folder} does not fit method {self.config.method!r} "
                             f"({type(err).__name__}: {first}); delete it, or train into another folder") from None
        return resumable.step

    def save(self, step: int) -> Path:
        """Write the checkpoint after ``step`` steps (atomically)."""
        tensor_state = {
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()},
            "rng": _rng_state(self.device),
            "log": self.log.state_dict(),
        }
        config = self.config.to_dict()
        json_state = {"stream": self.stream.state_dict(), "config": config, "config_sha256": ckpt.config_sha256(config)}
        return ckpt.save_checkpoint(self.root, step, self.method, tensor_state, json_state,
                                    keep=self.config.keep_checkpoints)

    def step(self, step: int) -> dict[str, torch.Tensor]:
        """Draw a batch and take one optimisation step; returns the detached terms."""
        batch = next(self.stream)
        if self.config.channels_last:
            batch = batch.channels_last()
        with self.autocast:
            terms = self.method.train_step(batch, step, self.optimizers)
        for scheduler in self.schedulers.values():
            scheduler.step()
        return terms


def train(config: TrainConfig | dict[str, Any], out_dir: str | os.PathLike, *, resume: bool = False,
          progress: bool = True) -> Path:
    """Train ``config`` into the run directory ``out_dir``; returns the run directory.

    Writes ``config.json`` and ``run.json`` (observation shape, device, threads), ``train_log.jsonl``,
    ``checkpoints/step_XXXXXXXX/`` every ``checkpoint_every`` steps and at the end (atomically),
    the final ``model.safetensors``, and with ``config.images`` the pictures ``traversal.png``,
    ``traversal.gif`` and ``reconstructions.png``.

    The loss is checked after every step (one host synchronisation per step on a GPU); loss terms
    are read back only when a log record is written.

    Parameters
    ----------
    config: a :class:`TrainConfig` (or its dict).
    out_dir: the run directory; a new run needs it empty of runs.
    resume: continue from the newest checkpoint in ``out_dir`` that verifies (from scratch when
        there is none). A checkpoint whose files do not match their recorded SHA-256 (truncated,
        corrupt, incomplete) is reported with a :class:`CheckpointWarning` naming it, renamed to
        ``corrupt-step_N`` and the next older one is used (keep several with ``keep_checkpoints``);
        when none verifies, a ValueError names them. Checkpoints written before checksums existed
        are accepted when every file reads. The config is compared with the one the checkpoint was
        written under and with ``config.json``: only ``steps``, ``images``, ``checkpoint_every``,
        ``log_every``, ``keep_checkpoints`` and ``prefetch`` (:data:`_RESUMABLE_CHANGES`) may
        differ, ``steps`` not for methods whose schedules depend on the run's length
        (``schedules_depend_on_steps``) and never below the checkpoint's step. The result is
        bit-identical to an uninterrupted run on the same machine.
    progress: show a tqdm progress bar with the loss terms.

    A folder left by a run that failed before its first checkpoint (``config.json`` and a log, no
    checkpoint, no weights) holds nothing to continue: a new run (with or without ``resume``)
    starts over in it, replacing ``config.json``.

    Raises
    ------
    ValueError: a bad config; ``out_dir`` is a file; ``out_dir`` already holds trained steps and
        ``resume`` is false; a resume that would mix configs or finds no checkpoint that verifies.
    NonFiniteLossError: the loss became NaN or infinite (the last checkpoint that verified, or was
        written by this run, is kept and named).
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig or a dict, got {type(config).__name__}")
    run_dir = Path(out_dir)
    _check_out_dir(run_dir)
    trained = _trained(run_dir)
    if not resume and trained:
        raise ValueError(f"{run_dir} already holds a run ({trained}); pass resume=True (--resume) to continue it, "
                         f"or delete {run_dir} or choose another directory to start over")
    device = resolve_device(config.device)
    dataset = build_dataset(config)
    config = fill_from_dataset(config, dataset)
    resumable = _newest_verified(run_dir) if resume else None
    if resume and trained:  # nothing trained yet (a run that failed at its start): nothing to mix
        _check_resume(config, run_dir, resumable)
    cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    # the caller's global torch RNG and thread count are left as they were
    with _threads(config.num_threads) as threads, torch.random.fork_rng(devices=cuda_devices):
        session = _Session(config, dataset, device, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.remove_partial(session.root)
        start, last_good, set_aside = 0, None, []
        if resumable is not None:
            start, last_good = session.restore(resumable), resumable.folder
            set_aside = resumable.set_failed_aside()
        session.log.truncate_after(start)  # records a killed or failed attempt wrote after its checkpoint
        write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
        env = _environment(device, threads)
        write_json_atomic(run_dir / RUN_FILE, {"observation_shape": list(dataset.observation_shape),
                                               "method": config.method, "dataset": config.dataset, **env})
        log = session.log
        skipped = {"corrupt_checkpoints": set_aside} if set_aside else {}
        log.write_event({"event": "resume" if start else "start", "step": start, **env, **skipped,
                         "config": config.to_dict()})
        bar = _progress(progress, config.steps, start)
        log.reset_clock()
        try:
            for step in range(start, config.steps):
                terms = session.step(step)
                if not bool(torch.isfinite(terms["loss"]).all()):
                    shown = {k: float(v) for k, v in terms.items() if isinstance(v, torch.Tensor) and v.ndim == 0}
                    raise NonFiniteLossError(step, shown, last_good)
                log.update(terms, session.images_per_step)
                done = step + 1
                if done % config.log_every == 0 or done == config.steps:
                    record = log.flush(done)
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                         if isinstance(v, float) and k != "seconds"}, refresh=False)
                if done % config.checkpoint_every == 0 or done == config.steps:
                    last_good = session.save(done)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            session.stream.close()

        session.method.eval()
        ckpt.save_weights(session.method, run_dir / ckpt.WEIGHTS)
        if config.images and session.method.capabilities.decoder:
            from disentkit.viz.traversal import save_run_pictures

            save_run_pictures(session.method, dataset, run_dir, seed=config.seed)
        log.write_event({"event": "end", "step": config.steps, "seconds": log.elapsed})
    return run_dir


def _progress(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """Rebuild a trained method from ``config.json`` + ``model.safetensors`` (eval mode).

    The result is a :class:`~disentkit.methods.base.Method`, usable directly as a representation
    (``model.represent(images)``) by :func:`disentkit.metrics.evaluate`.
    """
    run_dir = Path(run_dir)
    for name in (CONFIG_FILE, RUN_FILE, ckpt.WEIGHTS):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir} is not a finished run: {name} is missing")
    config = TrainConfig.from_dict(json.loads((run_dir / CONFIG_FILE).read_text()))
    shape = tuple(json.loads((run_dir / RUN_FILE).read_text())["observation_shape"])
    method = build_method(config, shape)
    ckpt.load_weights(method, run_dir / ckpt.WEIGHTS)
    return method.to(device).eval()


def load_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` saved in a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}")
    return TrainConfig.from_dict(json.loads(path.read_text()))
