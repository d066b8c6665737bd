"""CMC: Contrastive Multiview Coding (Tian, Krishnan, Isola, ECCV 2020; ``methods_ssl_causal.md`` §3).

M >= 2 views of each image, one encoder per view (a backbone from :func:`disentkit.nn.build_backbone`
with the view's channel count, and a linear head to a 128-D embedding on the unit sphere); views
of the same image are pulled together and views of different images pushed apart:

    L^{V1,V2} = -E_i log[ h(v1_i, v2_i) / sum_{j=1}^{k+1} h(v1_i, v2_j) ],   h(a, b) = exp(cos(a, b) / τ)
    L(V1, V2) = L^{V1,V2} + L^{V2,V1}                      (symmetric, τ = 0.07)
    core view:  L_C = sum_{j>=2} L(V1, Vj)      full graph:  L_F = sum_{i<j} L(Vi, Vj)

**Views** (``views``):

- ``"channels"``: a channel split of one image, each group of ``channel_groups`` one view. For
  colour data the default is the paper's **L | ab** split of CIE Lab (:func:`rgb_to_lab`, fed to
  the encoders as Lab / 100); ``color_space="rgb"`` splits the raw channels instead, and more than
  two groups give M > 2 views. The sampler's two augmented views are both rendered: with
  ``channel_views="same"`` (the paper: one crop, then split) every group reads the first view;
  with ``"alternate"`` group k reads view k mod 2 (colour split *and* augmentation invariance).
- ``"augmented"``: the sampler's two augmented views, each through its own encoder on every
  channel (1-channel data such as dSprites, where a channel split does not exist).
- ``"auto"`` (default): ``"channels"`` for 3-channel images, ``"augmented"`` otherwise.

**Loss** (``loss``):

- ``"infonce"`` (default): in-batch negatives, k = B - 1 (:class:`~disentkit.losses.InfoNCELoss`
  through :func:`~disentkit.losses.multiview_contrastive_loss`); no dataset-sized state.
- ``"nce"`` / ``"nce_softmax"``: CMC's memory bank, one :class:`~disentkit.losses.MemoryBank` per
  view with one row per dataset item (``dataset_size`` rows, filled from ``len(dataset)`` by the
  trainer; the item of each image is ``batch.extras["index"]``), ``nce_k`` = 4096 negatives drawn
  uniformly per anchor, the positive in slot 0, and the NCE criterion with a normaliser Z fixed on
  the first batch (:class:`~disentkit.losses.NCELoss`, one per directed view pair) or the
  (k + 1)-way softmax (:class:`~disentkit.losses.NCESoftmaxLoss`). After the loss the bank rows
  of the batch's items move to ``normalise(m · row + (1 - m) · feature)``, m = 0.5. The banks and Z
  are buffers (checkpointed) and every negative is drawn from ``self.generator``, so a resumed run
  is bit-identical. An item drawn twice in one batch updates its row once, from its first
  occurrence. Memory: 2 x N x 128 float32 (245 MB per bank for Shapes3D's 480,000 images).

**Representation**: the concatenation of the M encoders' backbone features of the image's views
(each encoder on its own channel group; in ``"augmented"`` mode both on the whole image), so
``code_size = sum of the backbones' feature_dim`` (512 for two conv trunks); with
``representation="projector"`` the concatenated unit-norm embeddings (M x ``projector_out``).

Optimisation is the SSL base's (:mod:`disentkit.methods.ssl`: Adam lr 1e-3 with warm-up + cosine;
the paper uses SGD lr 0.03, momentum 0.9, weight decay 1e-4, ``optimizer="sgd"``).

>>> model = CMC((3, 64, 64), CMCConfig(), seed=0)                  # L | ab, in-batch InfoNCE
>>> model = CMC((3, 64, 64), CMCConfig(loss="nce", dataset_size=75000), seed=0)   # memory bank
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses import (
    MULTIVIEW_MODES,
    InfoNCELoss,
    MemoryBank,
    NCELoss,
    NCESoftmaxLoss,
    multiview_contrastive_loss,
)
from disentkit.methods.base import Batch
from disentkit.validation import check_choice, check_int, check_number
from disentkit.methods.ssl import SelfSupervisedMethod, SSLConfig, build_image_backbone
from disentkit.nn import MLPHead

VIEW_MODES = ("auto", "channels", "augmented")
COLOR_SPACES = ("lab", "rgb")
CHANNEL_VIEWS = ("same", "alternate")
CMC_LOSSES = ("infonce", "nce", "nce_softmax")
DEFAULT_GROUPS = ((0,), (1, 2))  # L | ab (or R | GB with color_space="rgb")

# sRGB (linear) -> CIE XYZ, D65 white (IEC 61966-2-1 primaries)
_RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                            [0.2126729, 0.7151522, 0.0721750],
                            [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_DELTA = 6.0 / 29.0


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) of sRGB images (B, 3, H, W) in [0, 1]; returns (B, 3, H, W) = (L, a, b).

    1. Undo the sRGB gamma: ``c_lin = c / 12.92`` if ``c <= 0.04045``, else ``((c + 0.055) / 1.055)^2.4``.
    2. ``(X, Y, Z) = M c_lin`` with the sRGB/D65 matrix M (rows 0.4124564 0.3575761 0.1804375 |
       0.2126729 0.7151522 0.0721750 | 0.0193339 0.1191920 0.9503041), divided by the white point
       ``(Xn, Yn, Zn) = M (1, 1, 1) = (0.95047, 1.0, 1.08883)`` (so white maps to a = b = 0 exactly).
    3. ``f(t) = t^(1/3)`` if ``t > δ³`` else ``t / (3 δ²) + 4/29``, δ = 6/29;
       ``L = 116 f(Y) - 16``, ``a = 500 (f(X) - f(Y))``, ``b = 200 (f(Y) - f(Z))``.

    White -> (100, 0, 0), black -> (0, 0, 0), pure red -> (53.24, 80.09, 67.20). Computed in the
    input's dtype (float32 for images); differentiable.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"rgb_to_lab needs RGB images (B, 3, H, W), got {shape}")
    x = images.clamp(0.0, 1.0)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    matrix = _RGB_TO_XYZ / _RGB_TO_XYZ.sum(dim=1, keepdim=True)  # rows scaled by 1 / white
    xyz = torch.einsum("ij,bjhw->bihw", matrix.to(x.dtype).to(x.device), linear)
    f = torch.where(xyz > _DELTA ** 3, xyz.clamp_min(_DELTA ** 3) ** (1.0 / 3.0),
                    xyz / (3 * _DELTA ** 2) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def check_channel_groups(groups: Any) -> tuple[tuple[int, ...], ...] | None:
    """``groups`` as a tuple of >= 2 non-empty tuples of distinct channel indices >= 0 (or None)."""
    if groups is None:
        return None
    message = ("channel_groups must be a list of at least 2 non-empty lists of distinct channel "
               f"indices >= 0 (e.g. [[0], [1, 2]]), got {groups!r}")
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or len(groups) < 2:
        raise ValueError(message)
    out = []
    for group in groups:
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or not group:
            raise ValueError(message)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in group) or len(set(group)) != len(group):
            raise ValueError(message)
        out.append(tuple(int(c) for c in group))
    return tuple(out)


@dataclass(kw_only=True)
class CMCConfig(SSLConfig):
    """CMC's hyperparameters: :class:`~disentkit.methods.ssl.SSLConfig` (backbone, optimiser,
    schedule; the ``projector_*`` fields shape each view's head, by default CMC's linear map to
    128-D) plus

    views: ``"auto"``, ``"channels"`` or ``"augmented"`` (see the module docstring).
    channel_groups: the channels of each view for ``"channels"`` (``None``: ``[[0], [1, 2]]``, L | ab).
    color_space: ``"lab"`` (split CIE Lab, 3-channel images only) or ``"rgb"`` (the raw channels).
    channel_views: ``"same"`` (every group from the first augmented view) or ``"alternate"``.
    multiview_mode: ``"core"`` (view 1 against each other view) or ``"full"`` (every pair).
    loss: ``"infonce"`` (in-batch), ``"nce"`` or ``"nce_softmax"`` (memory bank).
    temperature: τ (0.07).
    nce_k: negatives drawn from the bank per anchor (4096).
    bank_momentum: m of the bank update (0.5).
    fix_z: keep NCE's normaliser Z from the first batch (True, as CMC) or re-estimate it per batch.
    dataset_size: N, the bank's rows (``None``: ``len(dataset)``, filled by the trainer).
    """

    projector_hidden: int = 2048
    projector_out: int = 128
    projector_layers: int = 1
    views: str = "auto"
    channel_groups: Any = None
    color_space: str = "lab"
    channel_views: str = "same"
    multiview_mode: str = "core"
    loss: str = "infonce"
    temperature: float = 0.07
    nce_k: int = 4096
    bank_momentum: float = 0.5
    fix_z: bool = True
    dataset_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("views", self.views, VIEW_MODES)
        self.channel_groups = check_channel_groups(self.channel_groups)
        if self.channel_groups is not None and self.views == "augmented":
            raise ValueError("channel_groups applies to views='channels' or 'auto', not 'augmented'")
        check_choice("color_space", self.color_space, COLOR_SPACES)
        check_choice("channel_views", self.channel_views, CHANNEL_VIEWS)
        check_choice("multiview_mode", self.multiview_mode, MULTIVIEW_MODES)
        check_choice("loss", self.loss, CMC_LOSSES)
        self.temperature = check_number("temperature", self.temperature, 0.0, strict_min=True)
        self.nce_k = check_int("nce_k", self.nce_k, 1)
        self.bank_momentum = check_number("bank_momentum", self.bank_momentum, 0.0, 1.0)
        if not isinstance(self.fix_z, bool):
            raise ValueError(f"fix_z must be true or false, got {self.fix_z!r}")
        if self.dataset_size is not None:
            self.dataset_size = check_int("dataset_size", self.dataset_size, 2)

    @property
    def uses_bank(self) -> bool:
        """Whether the loss needs the memory bank (and so ``dataset_size``)."""
        return self.loss != "infonce"


def first_occurrences(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(items, rows)``: the distinct values of ``index`` (sorted) and the position of the first
    occurrence of each, so that ``index[rows] == items``."""
    items, inverse = torch.unique(index, sorted=True, return_inverse=True)
    positions = torch.arange(index.numel(), device=index.device)
    rows = torch.full((items.numel(),), index.numel(), dtype=torch.int64, device=index.device)
    return items, rows.scatter_reduce(0, inverse, positions, reduce="amin")


class CMC(SelfSupervisedMethod):
    """CMC (see the module docstring): one encoder per view, InfoNCE or memory-bank NCE.

    It is a :class:`~disentkit.methods.ssl.SelfSupervisedMethod` for the contract it shares with
    the family (``"views"`` batches from the ``views`` sampler, the ``"ssl"`` optimiser with weight
    decay groups, warm-up + cosine, the collapse monitor), but it builds M encoders of different
    input widths instead of the base's single backbone + projector (its :meth:`build_encoders`).

    Attributes: ``backbones``, ``heads`` (``nn.ModuleList``, one per view), ``channel_groups``
    (``None`` in ``"augmented"`` mode), ``banks`` and ``nce_losses`` with the memory bank.
    """

    name: ClassVar[str] = "cmc"
    config_class: ClassVar[type] = CMCConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        self.infonce = InfoNCELoss(cfg.temperature, symmetric=True)
        self.pairs = self._pairs(self.num_encoders, cfg.multiview_mode)
        if cfg.uses_bank:
            if cfg.dataset_size is None:
                raise ValueError(f"cmc with loss={cfg.loss!r} needs dataset_size (N, the rows of its memory "
                                 "bank): pass dataset_size=len(dataset), or train through disentkit.train, "
                                 "which fills it from the dataset")
            self.banks = nn.ModuleList(
                MemoryBank(cfg.dataset_size, cfg.projector_out, cfg.bank_momentum, rng=self.generator)
                for _ in range(self.num_encoders))
            if cfg.loss == "nce":
                self.nce_losses = nn.ModuleDict({
                    f"{i}_{j}": NCELoss(cfg.dataset_size, cfg.temperature, cfg.fix_z)
                    for a, b in self.pairs for i, j in ((a, b), (b, a))})
            else:
                self.nce_softmax = NCESoftmaxLoss(cfg.temperature)

    def build_encoders(self) -> None:
        """One backbone (on its view's channels) and one head per view: ``self.backbones``,
        ``self.heads``; sets ``self.mode`` and ``self.channel_groups`` (``None`` when augmented)."""
        cfg = self.config
        c = self.observation_shape[0]
        mode = cfg.views if cfg.views != "auto" else ("channels" if c == 3 or cfg.channel_groups else "augmented")
        self.mode = mode
        if mode == "channels":
            groups = cfg.channel_groups or DEFAULT_GROUPS
            if cfg.color_space == "lab" and c != 3:
                raise ValueError(f"color_space='lab' needs 3-channel (RGB) images, got observation_shape "
                                 f"{self.observation_shape}; use color_space='rgb' or views='augmented'")
            if max(max(g) for g in groups) >= c:
                raise ValueError(f"channel_groups {[list(g) for g in groups]} must index channels 0..{c - 1} "
                                 f"of observation_shape {self.observation_shape}")
            self.channel_groups: tuple[tuple[int, ...], ...] | None = groups
            widths = [len(g) for g in groups]
        else:
            self.channel_groups = None
            widths = [c, c]
        self.backbones = nn.ModuleList()
        self.heads = nn.ModuleList()
        for width in widths:
            backbone = build_image_backbone(cfg.backbone, self.observation_shape, width,
                                            width=cfg.backbone_width, rng=self.generator)
            self.backbones.append(backbone)
            self.heads.append(MLPHead(backbone.feature_dim, cfg.projector_hidden, cfg.projector_out,
                                      cfg.projector_layers, last_batch_norm=cfg.projector_last_batch_norm,
                                      rng=self.generator))

    @staticmethod
    def _pairs(num_views: int, mode: str) -> list[tuple[int, int]]:
        """The view pairs of the loss: ``(0, j)`` for ``"core"``, every ``i < j`` for ``"full"``."""
        if mode == "core":
            return [(0, j) for j in range(1, num_views)]
        return list(itertools.combinations(range(num_views), 2))

    @classmethod
    def fill_from_dataset(cls, config: CMCConfig, dataset: Any) -> CMCConfig:
        """``config`` with ``dataset_size = len(dataset)`` when the memory bank needs it and it is unset."""
        if config.uses_bank and config.dataset_size is None:
            return dataclasses.replace(config, dataset_size=len(dataset))
        return config

    # -- views, encoders, representation ------------------------------------------------------------
    @property
    def num_encoders(self) -> int:
        """M, the number of views (and encoders)."""
        return len(self.backbones)

    def view_inputs(self, first: torch.Tensor, second: torch.Tensor) -> list[torch.Tensor]:
        """The input of each encoder: the channel groups (of Lab / 100 or the raw channels) of
        ``first`` (or alternately of ``first`` and ``second``), or the two augmented views."""
        if self.channel_groups is None:
            return [first, second]
        sources = [first, second] if self.config.channel_views == "alternate" else [first]
        if self.config.color_space == "lab":
            sources = [rgb_to_lab(s) / 100.0 for s in sources]
        return [sources[k % len(sources)][:, list(g)] for k, g in enumerate(self.channel_groups)]

    def embed(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The unit-norm embedding (B, projector_out) of each encoder's input, float32, with gradients."""
        return [F.normalize(head(backbone(x)).float(), dim=1)
                for backbone, head, x in zip(self.backbones, self.heads, inputs)]

    @property
    def code_size(self) -> int:
        """The width of :meth:`represent`: the sum of the backbones' ``feature_dim`` (or M x ``projector_out``)."""
        if self.config.representation == "projector":
            return self.num_encoders * self.config.projector_out
        return sum(b.feature_dim for b in self.backbones)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """The concatenated unit-norm embeddings of every view of ``images`` (B, M x projector_out)."""
        return torch.cat(self.embed(self.view_inputs(images, images)), dim=1)

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The concatenated backbone features of every view of ``images`` (B, :attr:`code_size`),
        float32 (the embeddings with ``representation="projector"``)."""
        self.check_images(images)
        if self.config.representation == "projector":
            return self.project(images)
        inputs = self.view_inputs(images, images)
        return torch.cat([b(x).float() for b, x in zip(self.backbones, inputs)], dim=1)

    # -- the loss -------------------------------------------------------------------------------------
    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """``loss`` (the core or full sum of symmetric pair losses) and ``embedding_std``."""
        batch = self.check_batch(batch)
        feats = self.embed(self.view_inputs(*batch.views))
        if self.config.uses_bank:
            loss = self.bank_loss(feats, self._index(batch))
        else:
            loss = multiview_contrastive_loss(feats, self.config.multiview_mode, pair_loss=self.infonce)
        return {"loss": loss, "embedding_std": self.embedding_std(feats[0])}

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The in-batch terms of two views (``loss="infonce"``; the bank needs the batch's indices)."""
        if self.config.uses_bank:
            raise ValueError(f"cmc with loss={self.config.loss!r} needs the batch's extras['index']: call forward(batch)")
        feats = self.embed(self.view_inputs(first, second))
        loss = multiview_contrastive_loss(feats, self.config.multiview_mode, pair_loss=self.infonce)
        return {"loss": loss, "embedding_std": self.embedding_std(feats[0])}

    def _index(self, batch: Batch) -> torch.Tensor:
        if "index" not in batch.extras:
            raise ValueError(f"cmc with loss={self.config.loss!r} needs batch.extras['index'] (the dataset row of "
                             "each image, given by the 'views' sampler)")
        index = torch.as_tensor(batch.extras["index"]).to(torch.int64).reshape(-1)
        if index.numel() != batch.batch_size:
            raise ValueError(f"batch.extras['index'] must hold one index per image ({batch.batch_size}), "
                             f"got {index.numel()}")
        return index

    def bank_loss(self, feats: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        """The memory-bank loss of unit-norm features (one (B, d) per view) of items ``index`` (B,).

        One draw of ``nce_k`` negatives per anchor (shared by every view pair); for each pair
        (i, j): ``crit(bank_j scores of feats_i) + crit(bank_i scores of feats_j)``; then every
        bank moves its rows of the batch's items towards the new features.
        """
        slots = self.banks[0].sample_negatives(index, self.config.nce_k, self.generator)
        total = feats[0].new_zeros(())
        for a, b in self.pairs:
            for i, j in ((a, b), (b, a)):
                scores = self.banks[j].similarities(feats[i], slots)
                crit = self.nce_losses[f"{i}_{j}"] if self.config.loss == "nce" else self.nce_softmax
                total = total + crit(scores)
        items, rows = first_occurrences(index.to(feats[0].device))
        for bank, f in zip(self.banks, feats):
            bank.update(items, f.detach()[rows])
        return total
