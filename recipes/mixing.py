"""Training on a mixture of corpora with different label sets and modalities.

Each :class:`MixSource` is one corpus (an :class:`~model.datasets.EmotionDataset`
already re-indexed to the run's emotion words, so its ``label_mask`` marks the
corpus's own labels). An epoch is a seeded shuffle of *single-corpus* batches:

* ``repeat`` passes over a small corpus (oversampling it, so a 1k-clip
  multimodal corpus is not drowned by 50k text samples), and/or
* ``per_epoch`` samples of a large corpus, taken in turn from a seeded
  permutation (the next epoch continues where this one stopped, so the whole
  corpus is seen over the run);
* a corpus may have its own ``batch_size`` (the cost of a batch is mostly its
  20 LSTM steps, so larger text-only batches see more sentences for the time).

Batches hold one corpus only, so the loss (masked BCE over the corpus's own
labels, :func:`model.training.masked_bce`, optionally with balanced positive weights) never scores a sample against
another corpus's labels, and modalities a corpus lacks are passed as one-step
zero tensors (they are masked out of the fusion, so they cost nothing).
Optional per-sample modality dropout (:func:`model.training.drop_modalities`)
applies to multimodal batches. The learning rate follows a cosine from ``lr``
to ``lr * lr_final``; there is no early stopping, the last epoch is the model
(so validation figures are not selected on).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from feature_adapters.errors import LivemerError
from model.config import MODALITIES
from model.datasets import EmotionDataset
from model.normalize import NormStats


class MixingError(LivemerError, ValueError):
    """A mixture cannot be trained (no sources, mismatched label sets...)."""


def balanced_pos_weight(ds: EmotionDataset, power: float = 1.0, cap: float = 20.0) -> np.ndarray:
    """(K,) positive-label weights ``clip(N_k / P_k, 1, cap) ** power`` over each label's annotated samples.

    ``power=1`` weighs positives and negatives of a label equally in the loss,
    so a probability of 0.5 becomes the balanced decision threshold (what the
    paper's weighted accuracy rewards); unannotated labels and labels without
    positives get 1.
    """
    ann = ds.label_mask
    pos = ((ds.labels > 0.5) & ann).sum(axis=0).astype(np.float64)
    neg = ((ds.labels <= 0.5) & ann).sum(axis=0).astype(np.float64)
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1.0), 1.0)
    return (np.clip(ratio, 1.0, cap) ** float(power)).astype(np.float32)


@dataclass
class MixSource:
    """One corpus in the mixture. ``data`` must already be normalised and label-selected."""

    name: str
    data: EmotionDataset
    repeat: int = 1  # full passes per epoch (when per_epoch is None)
    per_epoch: int | None = None  # samples per epoch, cycling through a seeded permutation
    loss_weight: float = 1.0
    pos_weight: np.ndarray | None = None  # (K,) weight of positive labels in the BCE (see balanced_pos_weight)
    batch_size: int | None = None  # this corpus's batch size (None: the schedule's)

    def __post_init__(self) -> None:
        if len(self.data) == 0:
            raise MixingError(f"mixture source '{self.name}' has no samples")
        if self.repeat < 1:
            raise MixingError(f"mixture source '{self.name}': repeat must be >= 1")
        if self.per_epoch is not None and self.per_epoch < 1:
            raise MixingError(f"mixture source '{self.name}': per_epoch must be >= 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise MixingError(f"mixture source '{self.name}': batch_size must be >= 1")

        if self.pos_weight is not None:
            self.pos_weight = np.asarray(self.pos_weight, np.float32).reshape(-1)
            if self.pos_weight.shape[0] != self.data.labels.shape[1] or not (self.pos_weight > 0).all():
                raise MixingError(
                    f"mixture source '{self.name}': pos_weight must be {self.data.labels.shape[1]} positive values"
                )

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present in any sample of this corpus."""
        present = self.data.modality_mask.any(axis=0)
        return tuple(m for m, p in zip(MODALITIES, present) if p)

    def samples_per_epoch(self) -> int:
        return int(self.per_epoch) if self.per_epoch is not None else self.repeat * len(self.data)


@dataclass(frozen=True)
class MixSchedule:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    lr_final: float = 0.05  # final lr = lr * lr_final (cosine)
    weight_decay: float = 0.0
    #: (modality, l2) pairs: an L2 penalty l2/2 * |theta|^2 on the parameters of that modality's encoder
    #: (``encoders.<modality>.``), added to the loss of the batches where the modality is present. A weight decay
    #: on those parameters would also shrink them on every other corpus's batch, where they get no data gradient
    #: (in a mixture most batches: Adam then takes full-size steps towards 0).
    l2_by_modality: tuple[tuple[str, float], ...] = ()
    #: (modality, sigma) pairs: each training sample of that modality gets one random offset, N(0, sigma^2) per
    #: feature of the normalised steps, added to all of its observed steps (a new channel, microphone or speaker
    #: level each time it is drawn; padding and unobserved steps stay 0)
    offset_noise: tuple[tuple[str, float], ...] = ()
    #: > 0: the trained weights are an exponential moving average of the weights after every step, with a
    #: horizon of this many epochs (decay 1 - 1 / (ema_epochs * batches per epoch); torch.optim.swa_utils).
    #: Evaluations during training see the raw weights; the last one and the result see the average.
    ema_epochs: float = 0.0
    clip: float = 1.0
    modality_dropout: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MixHistory:
    epochs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    samples_seen: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Cursor:
    """Seeded, epoch-continuing permutation of ``n`` indices."""

    def __init__(self, n: int, seed: int, salt: int):
        self.n = n
        self.rng = np.random.default_rng([seed, salt, 7])
        self.perm = self.rng.permutation(n)
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        out = []
        while k > 0:
            if self.pos >= self.n:
                self.perm = self.rng.permutation(self.n)
                self.pos = 0
            step = min(k, self.n - self.pos)
            out.append(self.perm[self.pos : self.pos + step])
            self.pos += step
            k -= step
        return np.concatenate(out) if out else np.zeros(0, np.int64)


def with_offset(x, sigma: float, gen):
    """(B, T, d) normalised steps plus one N(0, sigma^2) offset per sample and feature on its observed steps
    (a step is observed when any feature is non-zero; padding stays exactly 0)."""
    import torch

    observed = (x.abs().amax(dim=-1, keepdim=True) > 0).to(x.dtype)
    off = torch.randn((x.shape[0], 1, x.shape[2]), generator=gen, dtype=x.dtype) * sigma
    return x + off * observed


def modality_parameters(net, modalities: Sequence[str]) -> dict[str, list]:
    """Per modality, the trainable parameters of its encoder (names starting ``encoders.<modality>.``)."""
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    return {m: [p for n, p in named if n.startswith(f"encoders.{m}.")] for m in modalities}


def epoch_plan(
    sources: Sequence[MixSource], batch_size: int, seed: int, epoch: int, cursors: dict[int, _Cursor]
) -> list[tuple[int, np.ndarray]]:
    """The epoch's batches as (source index, sample indices), single-corpus batches in a seeded order."""
    rng = np.random.default_rng([seed, epoch, 11])
    plan: list[tuple[int, np.ndarray]] = []
    for si, s in enumerate(sources):
        if s.per_epoch is not None:
            idx = cursors[si].take(int(s.per_epoch))
        else:
            idx = np.concatenate([rng.permutation(len(s.data)) for _ in range(s.repeat)])
        bs = int(s.batch_size or batch_size)
        for b in range(0, len(idx), bs):
            plan.append((si, idx[b : b + bs]))
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def source_tensors(s: MixSource) -> dict[str, Any]:
    """Torch views of a source; absent modalities become (N, 1, d) zeros."""
    import torch

    d = s.data
    mods = s.modalities
    out = {}
    for m in MODALITIES:
        x = getattr(d, m)
        if m in mods:
            out[m] = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        else:
            out[m] = torch.zeros((len(d), 1, x.shape[2]), dtype=torch.float32)
    out["modality_mask"] = torch.from_numpy(np.ascontiguousarray(d.modality_mask, bool))
    out["labels"] = torch.from_numpy(np.ascontiguousarray(d.labels, np.float32))
    out["label_mask"] = torch.from_numpy(np.ascontiguousarray(d.label_mask, bool))
    return out


ForwardFn = Callable[[Any, Any, Any, Any], Any]  # (text, acoustic, visual, modality_mask) -> logits


def train_mixture(
    net,
    forward: ForwardFn,
    sources: Sequence[MixSource],
    schedule: MixSchedule,
    *,
    on_epoch: Callable[[int, Any], dict[str, Any]] | None = None,
    eval_every: int = 0,
    log: Callable[[str], None] | None = None,
) -> MixHistory:
    """Optimise ``net`` (in place) on the mixture; ``forward`` maps a batch to (B, K) logits.

    ``on_epoch(epoch, net)`` (every ``eval_every`` epochs and after the last) may
    return figures to log; it never changes the outcome.
    """
    import torch

    from model.training import drop_modalities, masked_bce

    if not sources:
        raise MixingError("no sources to train on")
    k = sources[0].data.labels.shape[1]
    words = sources[0].data.emotions
    for s in sources:
        if s.data.emotions != words:
            raise MixingError(f"source '{s.name}' has labels {s.data.emotions[:4]}... but the run uses {words[:4]}...")
        if s.data.labels.shape[1] != k:
            raise MixingError(f"source '{s.name}' has {s.data.labels.shape[1]} label columns, expected {k}")
    hp = schedule
    torch.manual_seed(hp.seed)
    tensors = [source_tensors(s) for s in sources]
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
    penalised = modality_parameters(net, [m for m, _ in hp.l2_by_modality])
    cursors = {i: _Cursor(len(s.data), hp.seed, i) for i, s in enumerate(sources) if s.per_epoch is not None}
    per_epoch_batches = sum(math.ceil(s.samples_per_epoch() / (s.batch_size or hp.batch_size)) for s in sources)
    total_steps = max(1, hp.epochs * per_epoch_batches)
    history = MixHistory(samples_seen={s.name: 0 for s in sources})
    gen = torch.Generator().manual_seed(hp.seed)
    ema = None
    if hp.ema_epochs > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        decay = 1.0 - 1.0 / max(1.0, float(hp.ema_epochs) * per_epoch_batches)
        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
    step = 0
    t_start = time.perf_counter()
    for epoch in range(1, hp.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        plan = epoch_plan(sources, hp.batch_size, hp.seed, epoch, cursors)
        losses = {s.name: [] for s in sources}
        for si, idx in plan:
            lr = hp.lr * (hp.lr_final + (1 - hp.lr_final) * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            for g in opt.param_groups:
                g["lr"] = lr
            t = tensors[si]
            ii = torch.from_numpy(np.asarray(idx, np.int64))
            mask = t["modality_mask"][ii]
            if hp.modality_dropout > 0 and len(sources[si].modalities) > 1:
                mask = drop_modalities(mask, hp.modality_dropout, gen)
            xs = {m: t[m][ii] for m in MODALITIES}
            for m, sigma in hp.offset_noise:
                if sigma and m in sources[si].modalities:
                    xs[m] = with_offset(xs[m], float(sigma), gen)
            logits = forward(xs["text"], xs["acoustic"], xs["visual"], mask)
            loss = masked_bce(logits, t["labels"][ii], t["label_mask"][ii], sources[si].pos_weight)
            loss = loss * sources[si].loss_weight
            data_loss = float(loss.detach())  # what the epoch log reports (the penalty left out)
            for m, l2 in hp.l2_by_modality:
                if l2 and penalised[m] and bool(mask[:, MODALITIES.index(m)].any()):
                    loss = loss + 0.5 * float(l2) * sum((p * p).sum() for p in penalised[m])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if hp.clip and hp.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, hp.clip)
            opt.step()
            if ema is not None:
                ema.update_parameters(net)
            step += 1
            losses[sources[si].name].append(data_loss)
            history.samples_seen[sources[si].name] += len(idx)
        if ema is not None and epoch == hp.epochs:
            with torch.no_grad():
                for p, q in zip(net.parameters(), ema.module.parameters(), strict=True):
                    p.copy_(q)
        rec: dict[str, Any] = {
            "epoch": epoch,
            "seconds": round(time.perf_counter() - t0, 2),
            "lr": lr,
            "loss": {n: (float(np.mean(v)) if v else None) for n, v in losses.items()},
        }
        if on_epoch is not None and (epoch == hp.epochs or (eval_every and epoch % eval_every == 0)):
            net.eval()
            with torch.no_grad():
                rec["valid"] = on_epoch(epoch, net)
            net.train()
        history.epochs.append(rec)
        if log is not None:
            parts = " ".join(f"{n} {v:.4f}" for n, v in rec["loss"].items() if v is not None)
            extra = ""
            if "valid" in rec and rec["valid"]:
                extra = " | " + " ".join(
                    f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}" for a, b in rec["valid"].items()
                )
            log(f"epoch {epoch}/{hp.epochs} ({rec['seconds']:.0f}s, lr {lr:.1e}): loss {parts}{extra}")
    net.eval()
    history.seconds = time.perf_counter() - t_start
    return history


def normalise_sources(datasets: Sequence[EmotionDataset], stats: dict[str, NormStats]) -> list[EmotionDataset]:
    """Normalise only the modalities each dataset has (absent ones stay as they are: zeros)."""
    out = []
    for d in datasets:
        present = d.modality_mask.any(axis=0)
        st = {m: s for m, s in stats.items() if present[MODALITIES.index(m)]}
        if st:
            out.append(_normalise_present(d, st))
        else:
            out.append(d)
    return out


def _normalise_present(d: EmotionDataset, stats: dict[str, NormStats]) -> EmotionDataset:
    from dataclasses import replace

    from model.normalize import apply_stats

    new = {m: apply_stats(getattr(d, m), stats[m], d.step_masks[m]) for m in stats}
    return replace(d, **new)
