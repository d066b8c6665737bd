"""CMI minimisation (Funke, Vicol, Wang, Kümmerer, Zemel, Bethge, CoLLAs 2022, "Disentanglement and
Generalization Under Correlation Shifts", arXiv 2112.14754; spec ``methods_vae.md`` §5).

Not a VAE: a **supervised** encoder f (an MLP input -> 50 -> 50 -> D with ReLU, D = 10, or the
shared conv trunk) whose code ``z = f(x)`` is split in halves, ``z1 = z[:D/2]`` for the binary
attribute a1 and ``z2 = z[D/2:]`` for a2, each read by a linear head (h1, h2). The encoder minimises

    L_f = ½ [CE(h1(z1), a1) + CE(h2(z2), a2)] + λ L_adv          (λ = ``disentangle_weight``)

where ``L_adv`` (``estimator``) penalises the dependence between the subspaces:

- ``"cmi"`` (the paper's method) targets ``I(z1; z2 | a1) + I(z1; z2 | a2)``: for each value v of
  a1, z1 is permuted within the rows with ``a1 = v`` (z2 kept); a discriminator D1 on
  ``[z, onehot(a1)]`` tells real rows (1) from shuffled ones (0) by the binary cross-entropy, and
  the encoder gets the flipped-label cross-entropy. The same for a2 (z2 shuffled within the a2
  groups, discriminator D2) (:class:`~disentkit.losses.ShuffleDiscriminatorLoss`);
- ``"mi"`` (the unconditional baseline) targets ``I(z1; z2)``: z1 is shuffled across the whole
  batch and one discriminator sees z;
- ``"mmd_cond"`` / ``"mmd_uncond"``: the RBF-MMD between z and the within-class (a1 and a2, as
  for ``"cmi"``) / whole-batch shuffle, no discriminator (:class:`~disentkit.losses.ShuffleMMDLoss`);
- ``"none"``: the Base model, classification only.

Each training step computes every term from one forward pass and steps each optimiser once on its
own term (simultaneous updates, :meth:`CMI.gradient_routes`): ``"encoder"`` on L_f; ``"heads"`` on
the heads' cross-entropy **on detached z** (the heads are trained only by their own optimiser,
``num_cls_steps = 1``; the encoder's CE gradient passes through them without changing them);
``"discriminators"`` on the discriminators' BCE on detached z. Adam everywhere: encoder lr 1e-5
with a disentanglement term and 1e-4 for ``"none"`` (``lr=None`` picks these), heads 1e-4,
discriminators 1e-4 with betas (0.9, 0.999). Discriminators are MLPs ``D + 2 -> 50 -> 50 -> 1``
(``D -> 50 -> 50 -> 1`` for ``"mi"``), ReLU, PyTorch's default initialisation (drawn from the
method's generator, like every weight). The shuffles are drawn from the method's own
``self.generator``, which travels in ``state_dict()``: a resumed run is bit-identical.

**Attributes** (``attributes``): which two factor columns of the batch are a1 and a2, by name or
index (default: the first two). Both must be binary (a discrete factor of size 2):
:meth:`CMI.fill_from_dataset` (called by the trainer before the method is built) resolves names to
``attribute_columns`` and checks them, so a bad choice is a one-line ``ValueError`` before any
step.

**Weak supervision** (``missing_labels = p``): each attribute label of a sample is missing with
probability p, independently per attribute, and **fixed per sample**: whether label j of a sample
is missing is a deterministic hash of the sample's whole factor vector, j and ``label_seed``
(:func:`missing_label_mask`), so the same image always lacks the same label (the paper removes
labels once from the dataset). Samples whose factor vectors are equal share their pattern; on a
dataset whose factors are only the two attributes, give it instance factors too. A missing label
drops out of its CE term and of its conditioning groups: a row without a1 is never shuffled for
the a1 term and takes no part in D1's loss (nor in the a1 MMD term).

:meth:`CMI.represent` returns z; :meth:`CMI.predict_factors` the heads' argmax for (a1, a2)
(``capabilities.predicts_factors``), scored by the ``attribute_accuracy`` metric.

>>> model = CMI((1, 8, 8), CMIConfig(latent_dim=4), seed=0)
>>> model.represent(torch.rand(3, 1, 8, 8)).shape
torch.Size([3, 4])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.data.batch import Batch
from disentkit.losses.conditional_mi import ShuffleDiscriminatorLoss, ShuffleMMDLoss, group_permutation
from disentkit.methods.base import Capabilities, Method
from disentkit.methods.vae import loss_precision
from disentkit.nn import MLPHead, build_backbone, torch_default_init_
from disentkit.validation import check_choice, check_int, check_number

__all__ = ["CMI", "CMIConfig", "ESTIMATORS", "missing_label_mask", "resolve_attributes"]

ESTIMATORS = ("cmi", "mi", "mmd_cond", "mmd_uncond", "none")
ARCHITECTURES = ("mlp", "conv")
_MASK32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser (xor-shift-multiply) on int64 tensors holding values < 2^32; every
    product stays below 2^59, so nothing overflows int64."""
    x = x & _MASK32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & _MASK32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & _MASK32
    return x ^ (x >> 16)


def _factor_words(factors: torch.Tensor) -> torch.Tensor:
    """The factor values as int64 words: integer factors as they are, float factors by their bits."""
    if factors.is_floating_point():
        return factors.double().view(torch.int64)
    return factors.long()


def missing_label_mask(factors: torch.Tensor, num_labels: int, probability: float,
                       seed: int = 0) -> torch.Tensor:
    """Whether each of ``num_labels`` labels of each sample is missing: bool (B, num_labels).

    Label j of a sample is missing when ``u_j < probability``, where ``u_j = h_j / 2^32`` and
    ``h_j`` is a 32-bit hash of the sample's whole factor row, of j and of ``seed``: each value
    folded in (low and high 32 bits) as ``h <- mix(h * 31 + word)``, starting from
    ``mix(mix(seed) + j)`` (``mix``: the xor-shift-multiply integer finaliser). A pure function of
    the factor row: the same sample always misses the same labels, on every device and after a
    resume. Labels of different j are independent (different hash chains); ``u_j`` is close to
    uniform over distinct rows, so the missing fraction is ≈ p.
    """
    p = check_number("missing_labels", probability, 0.0, 1.0, strict_max=True)
    num_labels = check_int("num_labels", num_labels, 1)
    if factors.dim() != 2:
        raise ValueError(f"factors must be (B, F), got shape {tuple(factors.shape)}")
    b = factors.shape[0]
    if p == 0.0:
        return torch.zeros(b, num_labels, dtype=torch.bool, device=factors.device)
    words = _factor_words(factors)
    start = _mix32(torch.full((1,), int(seed) & _MASK32, dtype=torch.int64, device=factors.device))
    h = _mix32(start + torch.arange(num_labels, device=factors.device)).expand(b, num_labels)
    for column in range(words.shape[1]):  # a loop over factor columns, not samples
        for part in (words[:, column] & _MASK32, (words[:, column] >> 32) & _MASK32):
            h = _mix32(h * 31 + part.unsqueeze(1))
    return h.double() / 2.0**32 < p


def resolve_attributes(attributes: Sequence[int | str] | None, dataset: Any) -> tuple[list[int], list[str]]:
    """The columns and names of the two attributes in ``dataset``; ``ValueError`` (one line) when a
    name is not a factor, an index is out of range, the two coincide or one is not binary (a
    discrete factor of size 2)."""
    space = dataset.factor_space
    label = getattr(dataset, "name", "") or type(dataset).__name__
    names = list(space.names)
    chosen = [0, 1] if attributes is None else list(attributes)
    if len(names) < 2 and attributes is None:
        raise ValueError(f"cmi needs two binary attribute factors; dataset {label} has only {names}")
    columns = []
    for a in chosen:
        if isinstance(a, str):
            if a not in names:
                raise ValueError(f"cmi: attribute {a!r} is not a factor of dataset {label}; factors: {names}")
            columns.append(names.index(a))
        else:
            columns.append(check_int("attribute index", a, 0, maximum=len(names) - 1))
    if columns[0] == columns[1]:
        raise ValueError(f"cmi: the two attributes must differ, got {chosen}")
    binary = [n for n, f in zip(names, space.factors) if getattr(f, "kind", "discrete") == "discrete"
              and getattr(f, "size", None) == 2]
    for c in columns:
        factor = space.factors[c]
        if names[c] not in binary:
            size = getattr(factor, "size", None)
            what = f"size {size}" if getattr(factor, "kind", "discrete") == "discrete" else f"a {factor.kind} factor"
            raise ValueError(f"cmi: attribute {names[c]!r} of dataset {label} is not binary ({what}); "
                             f"cmi needs binary factors (size 2); binary factors here: {binary or 'none'}")
    return columns, [names[c] for c in columns]


def _check_attributes(value: Any) -> list[int | str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"attributes must be None or two factor names or indices (a1, a2), got {value!r}")
    out: list[int | str] = []
    for a in value:
        if isinstance(a, str):
            out.append(a)
        else:
            out.append(check_int("attributes entry", a, 0))
    return out


@dataclass(kw_only=True)
class CMIConfig:
    """CMI minimisation hyperparameters (defaults: the reference's MNIST setting, spec §5.1).

    latent_dim: D, the code width (10); z1 = the first D // 2 entries, z2 the rest.
    architecture: ``"mlp"`` (flatten -> hidden -> hidden -> D, ReLU; any image shape) or
        ``"conv"`` (the shared 64x64 conv trunk + a linear layer to D).
    hidden_dim: the MLP encoder's width (50, ``nhid``).
    attributes: the factors a1, a2 (names or indices; None: the first two). Must be binary.
    attribute_columns, attribute_names: filled by :meth:`CMI.fill_from_dataset` (leave unset).
    estimator: ``"cmi"`` (default), ``"mi"``, ``"mmd_cond"``, ``"mmd_uncond"`` or ``"none"``.
    disentangle_weight: λ >= 0 (1; the paper uses 10 on CelebA).
    lr: the encoder's Adam learning rate (None: 1e-5 with a disentanglement term, 1e-4 for "none").
    head_lr: the heads' Adam learning rate (1e-4).
    disc_lr: the discriminators' Adam learning rate (1e-4).
    adam_beta1, adam_beta2: betas of every Adam (0.9, 0.999).
    disc_hidden: the discriminators' hidden width (50).
    missing_labels: p in [0, 1), the probability that a label is missing (fixed per sample; 0).
    label_seed: the seed of the missing-label hash (0).
    mmd_bandwidths: the RBF bandwidths σ of the MMD estimators, summed ((0.1, 1, 10); our choice,
        the spec does not give the reference's).
    """

    latent_dim: int = 10
    architecture: str = "mlp"
    hidden_dim: int = 50
    attributes: Sequence[int | str] | None = None
    attribute_columns: Sequence[int] | None = None
    attribute_names: Sequence[str] | None = None
    estimator: str = "cmi"
    disentangle_weight: float = 1.0
    lr: float | None = None
    head_lr: float = 1e-4
    disc_lr: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    disc_hidden: int = 50
    missing_labels: float = 0.0
    label_seed: int = 0
    mmd_bandwidths: Sequence[float] = (0.1, 1.0, 10.0)

    def __post_init__(self) -> None:
        self.latent_dim = check_int("latent_dim", self.latent_dim, 2)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        self.hidden_dim = check_int("hidden_dim", self.hidden_dim, 1)
        self.attributes = _check_attributes(self.attributes)
        if self.attribute_columns is not None:
            cols = _check_attributes(self.attribute_columns)
            if cols is None or any(isinstance(c, str) for c in cols) or cols[0] == cols[1]:
                raise ValueError(f"attribute_columns must be two distinct column indices, got {self.attribute_columns!r}")
            self.attribute_columns = [int(c) for c in cols]
        if self.attribute_names is not None:
            names = self.attribute_names
            if isinstance(names, (str, bytes)) or not isinstance(names, Sequence) or len(names) != 2 \
                    or not all(isinstance(n, str) for n in names):
                raise ValueError(f"attribute_names must be two factor names, got {names!r}")
            self.attribute_names = list(names)
        check_choice("estimator", self.estimator, ESTIMATORS)
        self.disentangle_weight = check_number("disentangle_weight", self.disentangle_weight, 0.0)
        if self.lr is not None:
            self.lr = check_number("lr", self.lr, 0.0, strict_min=True)
        self.head_lr = check_number("head_lr", self.head_lr, 0.0, strict_min=True)
        self.disc_lr = check_number("disc_lr", self.disc_lr, 0.0, strict_min=True)
        self.adam_beta1 = check_number("adam_beta1", self.adam_beta1, 0.0, 1.0, strict_max=True)
        self.adam_beta2 = check_number("adam_beta2", self.adam_beta2, 0.0, 1.0, strict_max=True)
        self.disc_hidden = check_int("disc_hidden", self.disc_hidden, 1)
        self.missing_labels = check_number("missing_labels", self.missing_labels, 0.0, 1.0, strict_max=True)
        self.label_seed = check_int("label_seed", self.label_seed, 0)
        widths = self.mmd_bandwidths
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) == 0:
            raise ValueError(f"mmd_bandwidths must be a non-empty list of positive numbers, got {widths!r}")
        self.mmd_bandwidths = [check_number(f"mmd_bandwidths[{i}]", s, 0.0, strict_min=True)
                               for i, s in enumerate(widths)]  # a list: JSON round-trips it

    @property
    def encoder_lr(self) -> float:
        """``lr``, or 1e-5 with a disentanglement term (1e-4 for ``estimator="none"``) when unset."""
        if self.lr is not None:
            return self.lr
        return 1e-4 if self.estimator == "none" else 1e-5


def _relu_mlp(in_dim: int, hidden: int, out_dim: int, rng: torch.Generator) -> MLPHead:
    """``in_dim -> hidden -> hidden -> out_dim`` with ReLU, PyTorch-default weights from ``rng``."""
    return MLPHead(in_dim, hidden, out_dim, num_layers=3, batch_norm=False, rng=rng)


class CMI(Method):
    """The CMI-minimisation model (see the module docstring).

    Networks: ``encoder``, ``heads`` (two ``Linear(D/2 or D - D/2, 2)``), ``discriminators`` (two for
    ``"cmi"``, one for ``"mi"``, none otherwise). Optimisers: ``"encoder"``, ``"heads"`` and
    ``"discriminators"`` (when there are any). Terms: ``loss`` (L_f), ``classification``,
    ``adversarial`` (L_adv), ``heads_loss``, ``discriminator_loss`` (with discriminators), and
    ``accuracy_a1`` / ``accuracy_a2`` (on the labelled rows of the batch, for the log).
    """

    name: ClassVar[str] = "cmi"
    config_class: ClassVar[type] = CMIConfig
    batch_kind: ClassVar[str] = "images"
    num_views: ClassVar[int] = 1
    default_sampler: ClassVar[str] = "uniform"
    capabilities: ClassVar[Capabilities] = Capabilities(predicts_factors=True)

    def __init__(self, observation_shape: tuple[int, int, int], config: CMIConfig | None = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        cfg = self.config
        if cfg.attribute_columns is not None:
            columns = list(cfg.attribute_columns)
        elif cfg.attributes is None:
            columns = [0, 1]
        elif all(isinstance(a, int) for a in cfg.attributes):
            columns = [int(a) for a in cfg.attributes]
        else:
            raise ValueError(f"cmi: attributes {cfg.attributes} given by name must be resolved against the dataset: "
                             "build the config with CMI.fill_from_dataset(config, dataset) (the trainer does)")
        if columns[0] == columns[1]:
            raise ValueError(f"cmi: the two attributes must differ, got columns {columns}")
        self.attribute_columns: tuple[int, int] = (columns[0], columns[1])
        c, h, w = self.observation_shape
        d = cfg.latent_dim
        gen = self.generator
        if cfg.architecture == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), _relu_mlp(c * h * w, cfg.hidden_dim, d, gen))
        else:
            if (h, w) != (64, 64):
                raise ValueError(f"the 'conv' architecture needs ({c}, 64, 64) images, got observation_shape "
                                 f"{self.observation_shape}; use architecture='mlp'")
            trunk = build_backbone("conv", c, rng=gen)
            with torch.random.fork_rng(devices=[]):
                code = nn.Linear(trunk.feature_dim, d)
            torch_default_init_(code, gen)
            self.encoder = nn.Sequential(trunk, code)
        self.split = d // 2
        with torch.random.fork_rng(devices=[]):
            self.heads = nn.ModuleList([nn.Linear(self.split, 2), nn.Linear(d - self.split, 2)])
        torch_default_init_(self.heads, gen)
        if cfg.estimator == "cmi":
            self.discriminators = nn.ModuleList([_relu_mlp(d + 2, cfg.disc_hidden, 1, gen) for _ in range(2)])
        elif cfg.estimator == "mi":
            self.discriminators = nn.ModuleList([_relu_mlp(d, cfg.disc_hidden, 1, gen)])
        else:
            self.discriminators = nn.ModuleList()
        self.bce = ShuffleDiscriminatorLoss()
        self.mmd = ShuffleMMDLoss(cfg.mmd_bandwidths)

    # -- dataset --------------------------------------------------------------------------------
    @classmethod
    def fill_from_dataset(cls, config: CMIConfig, dataset: Any) -> CMIConfig:
        """``config`` with ``attribute_columns`` / ``attribute_names`` resolved from ``attributes``
        (:func:`resolve_attributes`); ``ValueError`` when the dataset lacks an attribute or one is
        not binary."""
        columns, names = resolve_attributes(config.attributes, dataset)
        if config.attribute_columns is not None and list(config.attribute_columns) != columns:
            raise ValueError(f"cmi: attribute_columns {list(config.attribute_columns)} disagree with attributes "
                             f"{config.attributes} on this dataset (columns {columns}); leave attribute_columns unset")
        return dataclasses.replace(config, attribute_columns=columns, attribute_names=names)

    @property
    def predicted_factors(self) -> tuple[int, int] | tuple[str, str]:
        """The factors :meth:`predict_factors` predicts: their names when known (resolved from a
        dataset), else their column indices."""
        names = self.config.attribute_names
        return (names[0], names[1]) if names is not None else self.attribute_columns

    # -- networks -------------------------------------------------------------------------------
    @property
    def code_size(self) -> int:
        """D."""
        return self.config.latent_dim

    def code(self, images: torch.Tensor) -> torch.Tensor:
        """z = f(x): images (B, C, H, W) -> (B, D), with gradients (float32 under mixed precision)."""
        return loss_precision(self.encoder(images))

    def halves(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z1, z2) = (z[:, :D//2], z[:, D//2:])``."""
        return z[:, : self.split], z[:, self.split:]

    def head_logits(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h1(z1), h2(z2))``, each (B, 2)."""
        z1, z2 = self.halves(z)
        return loss_precision(self.heads[0](z1)), loss_precision(self.heads[1](z2))

    @torch.no_grad()
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """z (B, D), float32."""
        return self.code(self.check_images(images)).float()

    @torch.no_grad()
    def predict_factors(self, images: torch.Tensor) -> torch.Tensor:
        """The heads' predictions of (a1, a2): int64 (B, 2), ``argmax h_j(z_j)``."""
        l1, l2 = self.head_logits(self.code(self.check_images(images)))
        return torch.stack([l1.argmax(1), l2.argmax(1)], dim=1)

    # -- losses ---------------------------------------------------------------------------------
    def labels(self, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(labels (B, 2) int64, known (B, 2) bool)``: the two attributes of each row, and which
        of them are not missing (:func:`missing_label_mask`); a missing label reads -1."""
        if not isinstance(factors, torch.Tensor) or factors.dim() != 2 \
                or factors.shape[1] <= max(self.attribute_columns):
            got = tuple(factors.shape) if isinstance(factors, torch.Tensor) else type(factors).__name__
            raise ValueError(f"cmi needs the batch's factors (B, F) with columns {list(self.attribute_columns)} "
                             f"(the attributes), got {got}")
        labels = factors[:, list(self.attribute_columns)].long()
        if bool(((labels < 0) | (labels > 1)).any()):
            raise ValueError(f"cmi: the attributes (columns {list(self.attribute_columns)}) must be binary 0/1, "
                             f"got values {sorted(set(labels.unique().tolist()))}")
        known = ~missing_label_mask(factors, 2, self.config.missing_labels, self.config.label_seed)
        return torch.where(known, labels, torch.full_like(labels, -1)), known

    @staticmethod
    def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean CE over the rows whose label is >= 0 (0 when none is)."""
        known = labels >= 0
        per_row = F.cross_entropy(logits, labels.clamp_min(0), reduction="none")
        return (per_row * known).sum() / known.sum().clamp_min(1)

    def classification_loss(self, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``½ [CE(h1(z1), a1) + CE(h2(z2), a2)]`` on the labelled rows, and the two head logits."""
        logits = list(self.head_logits(z))
        ce = [self.masked_cross_entropy(lg, labels[:, j]) for j, lg in enumerate(logits)]
        return 0.5 * (ce[0] + ce[1]), logits

    def shuffled(self, z: torch.Tensor, part: int, groups: torch.Tensor) -> torch.Tensor:
        """z with the rows of half ``part`` (0: z1, 1: z2) permuted within ``groups`` (-1: kept)."""
        perm = group_permutation(groups, self.generator)
        z1, z2 = self.halves(z)
        return torch.cat([z1[perm], z2], 1) if part == 0 else torch.cat([z1, z2[perm]], 1)

    def adversarial_terms(self, z: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``adversarial`` (the encoder's L_adv, with gradients into z) and, with discriminators,
        ``discriminator_loss`` (on detached z). Draws the shuffles from ``self.generator``."""
        est = self.config.estimator
        if est == "none":
            return {"adversarial": z.new_zeros(())}
        if est in ("mi", "mmd_uncond"):
            everyone = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
            fake = self.shuffled(z, 0, everyone)
            if est == "mmd_uncond":
                return {"adversarial": self.mmd(z, fake)}
            disc = self.discriminators[0]
            enc = self.bce(loss_precision(disc(z)), loss_precision(disc(fake)), flip=True)
            d_loss = self.bce(loss_precision(disc(z.detach())), loss_precision(disc(fake.detach())))
            return {"adversarial": enc, "discriminator_loss": d_loss}
        adversarial, d_loss = z.new_zeros(()), z.new_zeros(())
        for part in (0, 1):
            groups = labels[:, part]
            fake = self.shuffled(z, part, groups)
            if est == "mmd_cond":
                adversarial = adversarial + self.mmd(z, fake, groups)
                continue
            onehot = F.one_hot(groups.clamp_min(0), 2).to(z.dtype)
            disc, known = self.discriminators[part], groups >= 0
            real_in, fake_in = torch.cat([z, onehot], 1), torch.cat([fake, onehot], 1)
            adversarial = adversarial + self.bce(loss_precision(disc(real_in)), loss_precision(disc(fake_in)),
                                                 known, flip=True)
            d_loss = d_loss + self.bce(loss_precision(disc(real_in.detach())),
                                       loss_precision(disc(fake_in.detach())), known)
        out = {"adversarial": adversarial}
        if est == "cmi":
            out["discriminator_loss"] = d_loss
        return out

    def forward(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Every term of one batch: ``loss = classification + λ adversarial`` (the encoder's),
        ``heads_loss`` (the heads' CE on detached z) and ``discriminator_loss``."""
        batch = self.check_batch(batch)
        labels, known = self.labels(torch.as_tensor(batch.factors[0]).to(batch.images.device))
        z = self.code(batch.images)
        classification, logits = self.classification_loss(z, labels)
        heads_loss, _ = self.classification_loss(z.detach(), labels)
        terms = self.adversarial_terms(z, labels)
        terms = {"loss": classification + self.config.disentangle_weight * terms["adversarial"],
                 "classification": classification, "heads_loss": heads_loss, **terms}
        with torch.no_grad():
            for j, lg in enumerate(logits):
                hits = (lg.argmax(1) == labels[:, j]) & known[:, j]
                terms[f"accuracy_a{j + 1}"] = hits.sum().float() / known[:, j].sum().clamp_min(1)
        return terms

    # -- training -------------------------------------------------------------------------------
    def encoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's parameters (the ``"encoder"`` optimiser's)."""
        return list(self.encoder.parameters())

    def gradient_routes(self) -> tuple[tuple[str, list[nn.Parameter]], ...]:
        """``loss`` -> encoder, ``heads_loss`` -> heads, ``discriminator_loss`` -> discriminators:
        each term accumulates gradients only into its own network (the encoder's CE and generator
        terms pass through the heads and discriminators without touching them)."""
        routes: list[tuple[str, list[nn.Parameter]]] = [("loss", self.encoder_parameters()),
                                                         ("heads_loss", list(self.heads.parameters()))]
        if len(self.discriminators):
            routes.append(("discriminator_loss", list(self.discriminators.parameters())))
        return tuple(routes)

    def configure_optimizers(self, total_steps: int) -> dict[str, torch.optim.Optimizer]:
        """``{"encoder": Adam(encoder_lr), "heads": Adam(head_lr), "discriminators": Adam(disc_lr)}``
        (betas ``(adam_beta1, adam_beta2)``; no discriminator optimiser without discriminators)."""
        cfg = self.config
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        opts = {"encoder": torch.optim.Adam(self.encoder_parameters(), lr=cfg.encoder_lr, betas=betas),
                "heads": torch.optim.Adam(self.heads.parameters(), lr=cfg.head_lr, betas=betas)}
        if len(self.discriminators):
            opts["discriminators"] = torch.optim.Adam(self.discriminators.parameters(), lr=cfg.disc_lr, betas=betas)
        return opts
