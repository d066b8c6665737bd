"""CMC's memory bank and its two criteria: NCE with a fixed normaliser, and softmax (InfoNCE).

Reference: Tian, Krishnan, Isola, "Contrastive Multiview Coding" (ECCV 2020), §3.3, whose bank
follows the instance-discrimination bank of Wu, Xiong, Yu, Lin, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination" (CVPR 2018). This is not MoCo's queue: the bank holds one
slowly updated vector per *dataset item*, indexed by the item.

**The maths of the two criteria.** For an anchor feature v (unit norm) and K + 1 bank rows
``m_0 .. m_K`` (slot 0 the positive, the others K = k items drawn uniformly from N), the scores are
``s_j = <m_j, v>`` and the unnormalised model density ``exp(s_j / τ)``.

- *NCE* (Gutmann & Hyvärinen 2010) turns density estimation over all N items into binary
  classification "data or noise". The model density of item j is ``P_j = exp(s_j / τ) / Z``,
  the noise density is uniform, ``P_n = 1/N``, and k noise samples are drawn per data sample, so
  the posterior that a sample came from the data is ``h_j = P_j / (P_j + k P_n)``. The loss is
  ``-(1/B) sum_b [log h_0 + sum_{j=1}^{k} log(1 - h_j)]``, with ``1 - h_j = k P_n / (P_j + k P_n)``:
  the negatives *do* enter the loss, each through its own ``log(1 - h_j)`` term. The partition
  function ``Z = sum_{i=1}^{N} exp(s_i / τ)`` over the whole dataset is too costly, so CMC
  estimates it once, by Monte Carlo on the first batch, ``Z = N · mean_{b, j} exp(s_bj / τ)``, and
  then keeps it **fixed** (:class:`NCELoss`, ``fix_z=True``); NCE then makes the model
  self-normalise around that constant. ``fix_z=False`` re-estimates Z on every batch (detached).
- *Softmax / InfoNCE* (van den Oord et al. 2018) is a (k + 1)-way classification of the positive
  among the drawn items: ``-(1/B) sum_b log[exp(s_0 / τ) / sum_{j=0}^{k} exp(s_j / τ)]``
  (:class:`NCESoftmaxLoss`). It needs no Z and no P_n: it normalises exactly over the sampled set,
  and ``log(k + 1) - loss`` is a lower bound on the mutual information between the views.

A CMC step for views L and ab (one bank and one criterion per view; ``idx`` the items' indices)::

    bank_l, bank_ab = MemoryBank(n, 128, rng=g), MemoryBank(n, 128, rng=g)
    nce_l, nce_ab = NCELoss(n), NCELoss(n)
    slots = bank_ab.sample_negatives(idx, 4096, g)          # (B, 4097), positive in slot 0
    loss = nce_l(bank_ab.similarities(feat_l, slots)) + nce_ab(bank_l.similarities(feat_ab, slots))
    bank_l.update(idx, feat_l); bank_ab.update(idx, feat_ab)  # after the loss
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_features
from disentkit.nn.init import GeneratorLike, make_generator
from disentkit.validation import check_int, check_number


class MemoryBank(nn.Module):
    """One feature vector per dataset item, stored in the buffer ``memory`` (N, d) (so it is in
    ``state_dict`` and checkpointed), as in CMC and instance discrimination.

    - init: every entry ``~ U(-1/sqrt(d/3), +1/sqrt(d/3))`` drawn from ``rng`` (an int seed or a
      ``torch.Generator``, whose device the bank starts on; rows are not normalised, the first
      update of an item normalises it);
    - :meth:`sample_negatives`: k item indices per anchor, uniform over all N items (so a draw
      may hit the anchor's own item, with probability 1/N each, as in CMC), the positive in slot 0;
    - :meth:`similarities`: ``s_bj = <memory[slots_bj], feats_b>``, gradients to ``feats`` only;
    - :meth:`update`: ``memory[idx] <- normalise(m · memory[idx] + (1 - m) · feats)``, m =
      ``momentum`` = 0.5 (CMC's default), without gradients.

    >>> g = torch.Generator().manual_seed(0)
    >>> bank = MemoryBank(100, 16, rng=g)
    >>> idx = torch.tensor([3, 7]); feats = F.normalize(torch.randn(2, 16), dim=1)
    >>> slots = bank.sample_negatives(idx, k=8, rng=g)  # (2, 9), slots[:, 0] == idx
    >>> scores = bank.similarities(feats, slots)              # (2, 9)
    >>> bank.update(idx, feats)
    """

    memory: torch.Tensor

    def __init__(self, num_items: int, dim: int, momentum: float = 0.5, *, rng: GeneratorLike) -> None:
        super().__init__()
        self.num_items = check_int("num_items", num_items, 1)
        self.dim = check_int("dim", dim, 1)
        self.momentum = check_number("momentum", momentum, 0.0, 1.0)
        gen = make_generator(rng)
        bound = 1.0 / math.sqrt(self.dim / 3.0)
        memory = torch.rand(self.num_items, self.dim, generator=gen, device=gen.device) * (2 * bound) - bound
        self.register_buffer("memory", memory)

    def _check_idx(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 1 or idx.dtype not in (torch.int32, torch.int64):
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"idx must be a 1-D integer tensor of item indices, got {shape}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_items):
            raise ValueError(
                f"idx must lie in [0, {self.num_items}), got values in [{int(idx.min())}, {int(idx.max())}]")

    def sample_negatives(self, idx: torch.Tensor, k: int, rng: GeneratorLike) -> torch.Tensor:
        """``slots`` (B, k + 1): ``slots[:, 0] = idx``, ``slots[:, 1:]`` uniform over [0, N) from ``rng``
        (a ``torch.Generator``, advanced by the draw, or an int seed)."""
        self._check_idx(idx)
        k = check_int("k", k, 1)
        gen = make_generator(rng)
        drawn = torch.randint(0, self.num_items, (idx.shape[0], k), generator=gen, device=gen.device)
        return torch.cat([idx.to(drawn.device, torch.int64)[:, None], drawn], dim=1).to(self.memory.device)

    def similarities(self, feats: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """``s[b, j] = <memory[slots[b, j]], feats[b]>``, (B, K + 1); the bank is a constant."""
        check_features("feats", feats)
        if feats.shape[1] != self.dim:
            raise ValueError(f"feats must have {self.dim} dimensions, got shape {tuple(feats.shape)}")
        if slots.dim() != 2 or slots.shape[0] != feats.shape[0]:
            raise ValueError(f"slots must have shape (B={feats.shape[0]}, K+1), got {tuple(slots.shape)}")
        rows = self.memory[slots].to(feats.dtype)  # (B, K + 1, d)
        return torch.einsum("bkd,bd->bk", rows, feats)

    @torch.no_grad()
    def update(self, idx: torch.Tensor, feats: torch.Tensor) -> None:
        """``memory[idx] <- normalise(m · memory[idx] + (1 - m) · feats)``; ``idx`` must be distinct."""
        self._check_idx(idx)
        check_features("feats", feats)
        if feats.shape != (idx.shape[0], self.dim):
            raise ValueError(f"feats must have shape ({idx.shape[0]}, {self.dim}), got {tuple(feats.shape)}")
        if torch.unique(idx).numel() != idx.numel():
            raise ValueError("idx must not repeat an item in one update (the result would depend on write order)")
        idx = idx.to(self.memory.device, torch.int64)
        mixed = self.momentum * self.memory[idx] + (1.0 - self.momentum) * feats.detach().to(self.memory)
        self.memory.index_copy_(0, idx, F.normalize(mixed, dim=1))


def _check_scores(similarities: torch.Tensor) -> None:
    check_features("similarities", similarities)
    if similarities.shape[1] < 2:
        raise ValueError(
            "similarities must have shape (B, K+1) with the positive in column 0 and K >= 1, "
            f"got {tuple(similarities.shape)}")


class NCELoss(nn.Module):
    """CMC's NCE criterion on bank scores (see the module docstring for the maths).

    ``similarities`` (B, K + 1), the positive in column 0, are ``s = <bank row, feature>``. With
    ``P_j = exp(s_j / τ) / Z`` and ``P_n = 1 / N`` (N = ``num_items``):

    ``loss = -(1/B) sum_b [ log(P_0 / (P_0 + K P_n)) + sum_{j>=1} log(K P_n / (P_j + K P_n)) ]``

    computed in log space (``log h = log P - logaddexp(log P, log K P_n)``: no overflow, no eps).
    ``Z = N · mean_{b,j} exp(s_bj / τ)`` is estimated on the first batch and then kept in the
    buffers ``log_z`` / ``z_fixed`` (checkpointed; :meth:`reset_z` forgets it); with
    ``fix_z=False`` it is re-estimated, detached, on every batch.

    >>> nce = NCELoss(num_items=1000, temperature=0.07)
    >>> loss = nce(torch.randn(4, 17, requires_grad=True).tanh())  # 16 negatives per anchor
    >>> bool(nce.z_fixed)
    True
    """

    log_z: torch.Tensor
    z_fixed: torch.Tensor

    def __init__(self, num_items: int, temperature: float = 0.07, fix_z: bool = True) -> None:
        super().__init__()
        self.num_items = check_int("num_items", num_items, 1)
        self.temperature = check_number("temperature", temperature, 0.0, strict_min=True, finite=True)
        if not isinstance(fix_z, bool):
            raise ValueError(f"fix_z must be True or False, got {fix_z!r}")
        self.fix_z = fix_z
        self.register_buffer("log_z", torch.zeros(()))
        self.register_buffer("z_fixed", torch.zeros((), dtype=torch.bool))

    @property
    def z(self) -> float:
        """The fixed normaliser Z (NaN before the first batch)."""
        return float(self.log_z.exp()) if bool(self.z_fixed) else math.nan

    def reset_z(self) -> None:
        """Forget Z: the next batch estimates it again."""
        self.log_z.zero_()
        self.z_fixed.fill_(False)

    def _log_normalizer(self, logits: torch.Tensor) -> torch.Tensor:
        """``log Z = log(N · mean exp(logits))``, detached."""
        estimate = (torch.logsumexp(logits.detach().flatten(), 0) - math.log(logits.numel())
                    + math.log(self.num_items))
        if not self.fix_z:
            return estimate
        if not bool(self.z_fixed):
            self.log_z.copy_(estimate)
            self.z_fixed.fill_(True)
        return self.log_z.to(logits.dtype)

    def forward(self, similarities: torch.Tensor) -> torch.Tensor:
        """The NCE loss of (B, K + 1) bank scores, positive in column 0."""
        _check_scores(similarities)
        logits = similarities / self.temperature
        log_p = logits - self._log_normalizer(logits)
        k = similarities.shape[1] - 1
        log_noise = math.log(k) - math.log(self.num_items)  # log(K P_n)
        log_noise_t = torch.full_like(log_p, log_noise)
        log_h = log_p - torch.logaddexp(log_p, log_noise_t)  # log P/(P + K P_n)
        log_one_minus_h = log_noise_t - torch.logaddexp(log_p, log_noise_t)  # log K P_n/(P + K P_n)
        return -(log_h[:, 0].sum() + log_one_minus_h[:, 1:].sum()) / similarities.shape[0]


class NCESoftmaxLoss(nn.Module):
    """The softmax (InfoNCE) criterion on bank scores: ``-(1/B) sum_b log softmax_j(s_bj / τ)[0]``.

    ``similarities`` (B, K + 1) with the positive in column 0 (CMC's ``NCESoftmaxLoss``; see the
    module docstring for how it differs from :class:`NCELoss`).

    >>> NCESoftmaxLoss(0.07)(torch.randn(4, 17)).shape
    torch.Size([])
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = check_number("temperature", temperature, 0.0, strict_min=True, finite=True)

    def forward(self, similarities: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``similarities / τ`` with target class 0, batch mean."""
        _check_scores(similarities)
        target = torch.zeros(similarities.shape[0], dtype=torch.int64, device=similarities.device)
        return F.cross_entropy(similarities / self.temperature, target)
