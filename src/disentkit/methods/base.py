"""The method contract shared by every representation-learning family and the trainer.

A method owns its networks, its loss terms, its optimisers and schedules, and says how to represent
an image. It declares, as class attributes, what the rest of disentkit may ask of it:

- ``batch_kind`` (one of :data:`disentkit.data.batch.BATCH_KINDS`) and ``num_views``: the
  :class:`~disentkit.data.batch.Batch` it trains on, checked when a config is built;
- ``default_sampler``: the batch sampler a config gets when it names none;
- ``capabilities`` (:class:`Capabilities`): whether it has a decoder (traversals, reconstructions)
  and a Gaussian posterior (``encode -> (mu, logvar)``, for sampled metrics). The trainer,
  ``evaluate`` and the study report read these flags; nothing guesses from attribute names.

The base class owns the shared machinery:

- **config and seed**: ``Method(observation_shape, config=None, *, seed=None)`` checks the config
  type and the shape, and seeds one CPU ``torch.Generator`` (``self.generator``) that initialises
  the networks and then draws every training-time random number. Its state travels in
  ``state_dict()`` as the module's extra state (a uint8 tensor: safe for safetensors and
  ``weights_only`` loading), so a resumed run draws exactly what the uninterrupted run would;
- ``forward(batch, step)``: the loss terms of one batch, with gradients (what hooks,
  ``torch.compile`` and DDP wrap); ``train_step`` calls it, backpropagates each term of
  :meth:`Method.gradient_routes` into its parameters (a method with an adversary trains it on its
  own term), steps every optimiser and then :meth:`Method.after_step` (a momentum method updates
  its target there);
- **schedules**: ``configure_optimizers(total_steps)`` receives the run's length and
  ``configure_schedulers(optimizers, total_steps)`` may return learning-rate schedulers; the
  trainer steps and checkpoints them. A method whose numbers depend on the total step count sets
  ``schedules_depend_on_steps`` so that a resume with another ``steps`` is refused.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from disentkit.data.batch import BATCH_KINDS, Batch
from disentkit.validation import check_int


@dataclass(frozen=True)
class Capabilities:
    """What a method can do beyond ``represent``.

    decoder: ``decode(codes) -> logits`` and ``reconstruct(images)`` exist (traversals,
        reconstructions, generation-based metrics).
    gaussian_posterior: ``encode(images) -> (mu, logvar)`` with ``q(z|x) = N(mu, diag exp(logvar))``
        (sampled codes, ``mig_sampled``).
    predicts_factors: ``predict_factors(images) -> int64 (B, k)`` predicts k ground-truth factors
        (named by the method's ``predicted_factors``; the ``attribute_accuracy`` metric).
    """

    decoder: bool = False
    gaussian_posterior: bool = False
    predicts_factors: bool = False


def resolve_seed(seed: int | None) -> int:
    """``seed`` checked (an int >= 0, :func:`disentkit.validation.check_int`); ``None`` draws one
    from the global torch RNG (so a caller that ran ``torch.manual_seed`` gets a reproducible
    method)."""
    if seed is None:
        return int(torch.randint(0, 2**62, (1,)).item())
    return check_int("seed (or None)", seed, 0)


def check_observation_shape(shape: Any) -> tuple[int, int, int]:
    """``shape`` as ``(C, H, W)`` positive ints, else ``ValueError``."""
    try:
        shape = tuple(shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"observation_shape must be (C, H, W) positive integers, got {shape!r}")
    return shape


class Method(nn.Module, ABC):
    """Base class of every method (see the module docstring for the contract).

    Class attributes
    ----------------
    name: the registry name (``"beta_vae"``).
    config_class: the dataclass of the method's hyperparameters (validated at construction).
    batch_kind, num_views: the batch the method trains on (``"images"``, 1 view by default).
    default_sampler: the sampler name a config gets when it names none (``"uniform"``).
    capabilities: a :class:`Capabilities`.
    schedules_depend_on_steps: the method's schedules use the total step count.

    Subclasses implement ``forward(batch, step)``, :meth:`represent`, :attr:`code_size` and
    ``configure_optimizers``; they build their networks from ``self.generator`` after calling
    ``super().__init__``.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    batch_kind: ClassVar[str] = "images"
    num_views: ClassVar[int] = 1
    default_sampler: ClassVar[str] = "uniform"
    capabilities: ClassVar[Capabilities] = Capabilities()
    schedules_depend_on_steps: ClassVar[bool] = False

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.observation_shape = check_observation_shape(observation_shape)
        self.seed = resolve_seed(seed)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.seed)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.batch_kind not in BATCH_KINDS:
            raise TypeError(f"{cls.__name__}.batch_kind must be one of {BATCH_KINDS}, got {cls.batch_kind!r}")

    # -- the generator travels with state_dict() ------------------------------------------------
    def get_extra_state(self) -> torch.Tensor:
        """The generator state (a uint8 tensor), saved in ``state_dict()["_extra_state"]``."""
        return self.generator.get_state()

    def set_extra_state(self, state: Any) -> None:
        """Restore the generator state saved by :meth:`get_extra_state`."""
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise ValueError("the extra state of a method must be a uint8 generator-state tensor")
        self.generator.set_state(state.detach().cpu().contiguous())

    # -- batches ----------------------------------------------------------------------------------
    def check_images(self, x: Any) -> torch.Tensor:
        """``x`` if it is an image batch (B, C, H, W) of this method's observation shape."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != self.observation_shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{self.name} expects images (B, *{self.observation_shape}), got {got}")
        return x

    def check_batch(self, batch: Any) -> Batch:
        """``batch`` if it is a :class:`Batch` of this method's kind and view count; a bare image
        tensor is accepted by methods of kind ``"images"``."""
        if isinstance(batch, torch.Tensor) and self.batch_kind == "images":
            batch = Batch("images", (batch,), (torch.zeros(batch.shape[0], 0, dtype=torch.int64),))
        if not isinstance(batch, Batch) or batch.kind != self.batch_kind or len(batch.views) != self.num_views:
            got = (f"{batch.kind!r} batch with {len(batch.views)}" if isinstance(batch, Batch)
                   else type(batch).__name__)
            raise ValueError(
                f"{self.name} trains on {self.batch_kind!r} batches with {self.num_views} view(s), got "
                f"{got}; use the sampler {self.default_sampler!r}"
            )
        for view in batch.views:
            self.check_images(view)
        return batch

    # -- the contract -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def code_size(self) -> int:
        """The width D of :meth:`represent`'s codes."""

    @abstractmethod
    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Every loss term of one batch, with gradients; ``"loss"`` is what the optimisers minimise."""

    @abstractmethod
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The code of each image, (B, C, H, W) -> (B, :attr:`code_size`)."""

    @abstractmethod
    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """Create the optimisers, keyed by a stable name (``"vae"``, ``"discriminator"``).

        Called once by the trainer with the run's total step count; their state is checkpointed
        under these names.
        """

    def configure_schedulers(self, optimizers: dict[str, torch.optim.Optimizer],
                             total_steps: int) -> dict[str, Any]:
        """Learning-rate schedulers (``torch.optim.lr_scheduler``), keyed by name; stepped once
        after every training step and checkpointed. None by default."""
        return {}

    def after_step(self, step: int) -> None:
        """Called after the optimisers of step ``step`` have stepped (e.g. a momentum update)."""

    def gradient_routes(self) -> tuple[tuple[str, list[nn.Parameter] | None], ...]:
        """Which loss term trains which parameters: ``(term, parameters)`` pairs, backpropagated
        in order by :meth:`train_step` (``None``: every leaf the term reaches).

        The default ``(("loss", None),)`` trains everything on ``"loss"``. A method with an
        adversary routes its terms apart, e.g. ``(("loss", encoder), ("discriminator_loss", D))``:
        each backward accumulates gradients only into its own parameters, so a term that also
        reaches the other network (a generator loss through D) leaves that network's gradients
        alone.
        """
        return (("loss", None),)

    def train_step(self, batch: Batch, step: int,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """Forward, a backward of each :meth:`gradient_routes` term, every optimiser's ``step``,
        :meth:`after_step`.

        Returns the detached terms: scalar tensors keyed by name, ``"loss"`` being the total that
        must stay finite, and optionally ``"kl_per_dim"``, a (D,) tensor.
        """
        terms = self(batch, step)
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        routes = self.gradient_routes()
        for i, (term, params) in enumerate(routes):
            # the terms of one forward may share a graph (FactorVAE's real-code logits): keep it
            # until the last backward
            terms[term].backward(inputs=params, retain_graph=i < len(routes) - 1)
        for opt in optimizers.values():
            opt.step()
        self.after_step(step)
        return {k: v.detach() for k, v in terms.items()}

    @classmethod
    def fill_from_dataset(cls, config: Any, dataset: Any) -> Any:
        """The config with dataset-dependent defaults filled in (``None`` fields that depend on
        the training data, like β-TCVAE's ``dataset_size``). The base class changes nothing."""
        return config
