"""Training protocols of the paper (§4-5): supervised, zero-shot and few-shot (FT / JT / GEM).

The entry points take in-memory :class:`~model.datasets.EmotionDataset` splits
and a list of emotion words with their (frozen) word vectors, so any recipe can
call them, not only the CLI:

* :func:`train_supervised` - Adam, ReduceLROnPlateau(factor 0.1, patience 5) on
  the validation loss, gradient clipping, early stopping on the validation
  average of a metric, a seed, masked BCE-with-logits (``label_mask``), optional
  per-sample modality dropout.
* :func:`train_zsl` - the held-out emotion's positives are removed from the
  training (and validation) data and the emotion is dropped from the label set.
  The checkpoint still lists the held-out word, so it is scored at test time
  from its word vector through f_t->a and f_t->v.
* :func:`train_fsl` - starting from a model trained without the new emotion:
  ceil(1 %) of its training positives plus as many negatives; ``ft`` fine-tunes
  on them only, ``jt`` trains on the source data plus them, ``gem`` fine-tunes on
  them with a gradient-episodic-memory constraint on a small source memory.

Every epoch writes a resume sidecar ``<out>.resume.pt`` (model, optimizer,
scheduler, early-stopping state, history); a rerun of the same command picks up
after the last finished epoch. The sidecar is removed once the checkpoint is
written. Each epoch's randomness depends only on (seed, epoch), so a resumed run
follows the same path as an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from feature_adapters.errors import LivemerError

from .checkpoint import Checkpoint
from .config import MODALITIES, ModelConfig
from .datasets import EmotionDataset, concat, fit_normalization
from .gem import assign_flat_grad, flat_grad, project_gradient
from .metrics import MetricsTable, evaluate_scores
from .network import EmotionEmbeddingNet
from .normalize import NormStats
from .presets import TrainHParams

FSL_MODES = ("ft", "jt", "gem")


class TrainingError(LivemerError, ValueError):
    """A training run cannot start or continue (bad protocol arguments, stale resume state...)."""


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------
@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float
    valid: dict[str, float]  # averages over the validation emotions: w_acc, auc, f1, acc
    lr: float
    seconds: float
    improved: bool
    gem_projections: int = 0


@dataclass
class TrainHistory:
    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stopped_early: bool = False
    resumed_from: int | None = None
    select_metric: str = "w_acc"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["best_score"] = None if not math.isfinite(self.best_score) else self.best_score
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainHistory:
        h = cls(
            epochs=[EpochRecord(**e) for e in d.get("epochs", [])],
            best_epoch=int(d.get("best_epoch", 0)),
            best_score=-math.inf if d.get("best_score") is None else float(d["best_score"]),
            stopped_early=bool(d.get("stopped_early", False)),
            resumed_from=d.get("resumed_from"),
            select_metric=str(d.get("select_metric", "w_acc")),
        )
        return h


# ---------------------------------------------------------------------------------------------
# tensors and loss
# ---------------------------------------------------------------------------------------------
@dataclass
class TensorData:
    """A normalised dataset as torch tensors (sharing memory with the numpy arrays)."""

    text: torch.Tensor
    acoustic: torch.Tensor
    visual: torch.Tensor
    modality_mask: torch.Tensor  # (N, 3) bool
    labels: torch.Tensor  # (N, K) float
    label_mask: torch.Tensor  # (N, K) bool
    emotions: list[str]

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def batch(self, idx: torch.Tensor) -> TensorData:
        return TensorData(
            self.text[idx],
            self.acoustic[idx],
            self.visual[idx],
            self.modality_mask[idx],
            self.labels[idx],
            self.label_mask[idx],
            self.emotions,
        )


def to_tensors(ds: EmotionDataset) -> TensorData:
    """Tensors of an (already normalised) dataset."""
    return TensorData(
        text=torch.from_numpy(np.ascontiguousarray(ds.text, np.float32)),
        acoustic=torch.from_numpy(np.ascontiguousarray(ds.acoustic, np.float32)),
        visual=torch.from_numpy(np.ascontiguousarray(ds.visual, np.float32)),
        modality_mask=torch.from_numpy(np.ascontiguousarray(ds.modality_mask, bool)),
        labels=torch.from_numpy(np.ascontiguousarray(ds.labels, np.float32)),
        label_mask=torch.from_numpy(np.ascontiguousarray(ds.label_mask, bool)),
        emotions=list(ds.emotions),
    )


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor, pos_weight=None) -> torch.Tensor:
    """BCE-with-logits averaged over the annotated entries only (= plain mean BCE when all are annotated).

    ``pos_weight`` (K,), optional, weighs each label's positives (see :func:`recipes.mixing.balanced_pos_weight`).
    """
    m = label_mask.to(logits.dtype)
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none", pos_weight=pw)
    return (loss * m).sum() / m.sum().clamp_min(1.0)


def drop_modalities(mask: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mask each present modality with probability ``p``, never removing a sample's last one."""
    if p <= 0:
        return mask
    drop = torch.rand(mask.shape, generator=generator) < p
    new = mask & ~drop
    empty = ~new.any(dim=1) & mask.any(dim=1)
    return torch.where(empty[:, None], mask, new)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'cpu' (default), 'cuda', 'cuda:1', or 'auto' (CUDA when available)."""
    if device is None or device == "cpu":
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise TrainingError(f"unknown device '{device}' (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device '{device}' requested but CUDA is not available")
    return dev


def build_config(dims: dict[str, int], emb_dim: int, hp: TrainHParams) -> ModelConfig:
    """The model config for data ``dims`` and ``emb_dim``-d emotion vectors (text hidden = emb_dim)."""
    return ModelConfig(
        input_dims={m: int(dims[m]) for m in MODALITIES},
        hidden={"text": int(emb_dim), "acoustic": int(hp.hidden_acoustic), "visual": int(hp.hidden_visual)},
        emb_dim=int(emb_dim),
        num_layers=int(hp.num_layers),
        dropout=float(hp.dropout),
    )


def _default_log(msg: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)
    except Exception:  # pragma: no cover  # noqa: BLE001
        print(msg, file=sys.stderr)


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def resume_path(out: str | os.PathLike) -> Path:
    return Path(str(out) + ".resume.pt")


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
class Trainer:
    """One optimisation run of ``net`` against a fixed (K, d) emotion matrix."""

    def __init__(
        self,
        net: EmotionEmbeddingNet,
        emotion_vectors: np.ndarray,
        hparams: TrainHParams,
        *,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        device: str | torch.device | None = None,
    ):
        self.device = resolve_device(device)
        self.net = net.to(self.device)
        self.E = torch.as_tensor(np.asarray(emotion_vectors, np.float32)).to(self.device)
        self.hp = hparams
        self.progress = progress
        self.log = log or _default_log
        self.params = [p for p in net.parameters() if p.requires_grad]
        if hparams.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=hparams.lr, weight_decay=hparams.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(self.params, lr=hparams.lr, weight_decay=hparams.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=hparams.lr_factor, patience=hparams.lr_patience
        )

    # -- pieces -------------------------------------------------------------------------------
    def to_device(self, b: TensorData) -> TensorData:
        if self.device.type == "cpu":
            return b
        d = self.device
        return TensorData(
            b.text.to(d),
            b.acoustic.to(d),
            b.visual.to(d),
            b.modality_mask.to(d),
            b.labels.to(d),
            b.label_mask.to(d),
            b.emotions,
        )

    def forward(self, b: TensorData, mask: torch.Tensor | None = None) -> torch.Tensor:
        b = self.to_device(b)
        m = b.modality_mask if mask is None else mask.to(self.device)
        return self.net(b.text, b.acoustic, b.visual, self.E, m).logits

    def loss(self, b: TensorData, mask: torch.Tensor | None = None) -> torch.Tensor:
        b = self.to_device(b)
        return masked_bce(self.forward(b, mask), b.labels, b.label_mask)

    def _clip(self) -> None:
        if self.hp.clip and self.hp.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.hp.clip)

    def step(self, b: TensorData, mask: torch.Tensor | None = None) -> float:
        """One plain optimisation step on batch ``b``."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(b, mask)
        loss.backward()
        self._clip()
        self.optimizer.step()
        return float(loss.detach())

    def memory_gradient(self, memory: TensorData) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(memory).backward()
        return flat_grad(self.params).clone()

    def gem_step(self, b: TensorData, memory: TensorData, mask: torch.Tensor | None = None) -> tuple[float, bool]:
        """One GEM step: the batch gradient is projected when it would raise the memory loss."""
        g_mem = self.memory_gradient(memory)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(b, mask)
        loss.backward()
        g = flat_grad(self.params)
        g_new, projected = project_gradient(g, g_mem, margin=self.hp.gem_margin)
        if projected:
            assign_flat_grad(self.params, g_new)
        self._clip()
        self.optimizer.step()
        return float(loss.detach()), projected

    @torch.no_grad()
    def predict(self, data: TensorData, mask: torch.Tensor | None = None) -> tuple[float, np.ndarray]:
        """(masked BCE, (N, K) probabilities) in eval mode."""
        was = self.net.training
        self.net.eval()
        total, weight, probs = 0.0, 0.0, []
        bs = max(1, int(self.hp.eval_batch_size))
        for i in range(0, len(data), bs):
            idx = torch.arange(i, min(i + bs, len(data)))
            b = self.to_device(data.batch(idx))
            m = None if mask is None else mask[idx]
            logits = self.forward(b, m)
            w = float(b.label_mask.sum())
            if w:
                total += float(masked_bce(logits, b.labels, b.label_mask)) * w
                weight += w
            probs.append(torch.sigmoid(logits).float().cpu().numpy())
        self.net.train(was)
        p = np.concatenate(probs) if probs else np.zeros((0, self.E.shape[0]), np.float32)
        return (total / weight if weight else math.nan), p

    def validate(self, data: TensorData) -> tuple[float, MetricsTable]:
        loss, probs = self.predict(data)
        table = evaluate_scores(
            data.labels.numpy(), probs, list(data.emotions), self.hp.threshold, data.label_mask.numpy()
        )
        return loss, table

    # -- the loop -------------------------------------------------------------------------------
    def fit(
        self,
        train: TensorData,
        valid: TensorData,
        *,
        memory: TensorData | None = None,
        sidecar: Path | None = None,
        fingerprint: dict[str, Any] | None = None,
        desc: str = "train",
    ) -> TrainHistory:
        hp = self.hp
        history = TrainHistory(select_metric=hp.select_metric)
        best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        bad_epochs = 0
        start = 1
        if sidecar is not None and sidecar.exists():
            st = self._load_sidecar(sidecar, fingerprint)
            self.net.load_state_dict(st["model"])
            self.optimizer.load_state_dict(st["optimizer"])  # moves the state onto the parameters' device
            self.scheduler.load_state_dict(st["scheduler"])
            best_state = st["best_state"]
            bad_epochs = int(st["bad_epochs"])
            history = TrainHistory.from_dict(st["history"])
            start = int(st["epoch"]) + 1
            history.resumed_from = start - 1
            self.log(f"{desc}: resuming after epoch {start - 1} from {sidecar}")
            if st.get("finished"):
                start = hp.epochs + 1
        if len(train) == 0:
            raise TrainingError(f"{desc}: no training samples")
        n_batches = math.ceil(len(train) / hp.batch_size)
        for epoch in range(start, hp.epochs + 1):
            t0 = time.time()
            torch.manual_seed(hp.seed * 100_003 + epoch)
            gen = torch.Generator().manual_seed(hp.seed * 100_003 + epoch)
            order = torch.from_numpy(np.random.default_rng([hp.seed, epoch]).permutation(len(train)))
            self.net.train()
            total, count, projections = 0.0, 0, 0
            bar = _bar(n_batches, f"{desc} epoch {epoch}/{hp.epochs}", self.progress)
            for bi in range(n_batches):
                idx = order[bi * hp.batch_size : (bi + 1) * hp.batch_size]
                b = train.batch(idx)
                mask = drop_modalities(b.modality_mask, hp.modality_dropout, gen)
                b = self.to_device(b)
                if memory is not None:
                    mi = torch.randperm(len(memory), generator=gen)[: hp.gem_memory]
                    loss, proj = self.gem_step(b, self.to_device(memory.batch(mi)), mask)
                    projections += int(proj)
                else:
                    loss = self.step(b, mask)
                total += loss * len(idx)
                count += len(idx)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
            bar.close()
            train_loss = total / max(count, 1)
            valid_loss, table = self.validate(valid)
            avg = table.average()
            scores = {"w_acc": avg.w_acc, "auc": avg.auc, "f1": avg.f1, "acc": avg.acc}
            score = scores[hp.select_metric]
            score_cmp = -math.inf if math.isnan(score) else score
            improved = score_cmp > history.best_score or history.best_epoch == 0
            if improved:
                history.best_score = score_cmp
                history.best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += 1
            if math.isfinite(valid_loss):
                self.scheduler.step(valid_loss)
            lr = float(self.optimizer.param_groups[0]["lr"])
            rec = EpochRecord(
                epoch,
                train_loss,
                valid_loss,
                {k: _nan_to_none(v) for k, v in scores.items()},
                lr,
                time.time() - t0,
                improved,
                projections,
            )
            history.epochs.append(rec)
            self.log(_epoch_line(desc, rec, hp.select_metric))
            stop = bad_epochs >= hp.early_stop
            history.stopped_early = stop
            if sidecar is not None:
                self._save_sidecar(
                    sidecar, fingerprint, epoch, best_state, bad_epochs, history, finished=stop or epoch == hp.epochs
                )
            if stop:
                self.log(
                    f"{desc}: early stop after {epoch} epochs; best epoch {history.best_epoch} "
                    f"(valid {hp.select_metric} {_pct(history.best_score)})"
                )
                break
        self.net.load_state_dict(best_state)
        return history

    def _save_sidecar(self, path: Path, fingerprint, epoch, best_state, bad_epochs, history, finished: bool) -> None:
        _save_atomic(
            {
                "format": "livemer-resume",
                "fingerprint": fingerprint or {},
                "epoch": epoch,
                "finished": finished,
                "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "best_state": best_state,
                "bad_epochs": bad_epochs,
                "history": history.to_dict(),
            },
            path,
        )

    @staticmethod
    def _load_sidecar(path: Path, fingerprint) -> dict[str, Any]:
        try:
            st = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise TrainingError(
                f"{path}: unreadable resume state ({type(exc).__name__}); delete it to start over"
            ) from None
        if not isinstance(st, dict) or st.get("format") != "livemer-resume":
            raise TrainingError(f"{path}: not a livemer resume file; delete it to start over")
        if fingerprint is not None and st.get("fingerprint") != fingerprint:
            diff = _dict_diff(st.get("fingerprint") or {}, fingerprint)
            raise TrainingError(
                f"{path}: resume state is from a different run (differs in {', '.join(diff) or 'format'}); "
                "delete it or use another --out"
            )
        return st


def _dict_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Keys (dotted for nested dicts) whose values differ between ``a`` and ``b``."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(_dict_diff(va, vb, f"{prefix}{k}."))
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, **kw) -> None: ...
    def close(self) -> None: ...


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.1f}"


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _epoch_line(desc: str, r: EpochRecord, metric: str) -> str:
    v = r.valid
    extra = f" | GEM projections {r.gem_projections}" if r.gem_projections else ""
    return (
        f"{desc} epoch {r.epoch}: train loss {r.train_loss:.4f} | valid loss {r.valid_loss:.4f} | valid "
        f"W-Acc {_pct(v.get('w_acc'))} AUC {_pct(v.get('auc'))} F1 {_pct(v.get('f1'))} Acc {_pct(v.get('acc'))} "
        f"| lr {r.lr:.1e} | {r.seconds:.1f}s{' *' if r.improved else ''}{extra}"
    )


# ---------------------------------------------------------------------------------------------
# protocols
# ---------------------------------------------------------------------------------------------
def _seed_all(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _check_vectors(words: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float32)
    if v.ndim != 2 or v.shape[0] != len(words):
        raise TrainingError(f"{len(words)} emotion words but emotion vectors of shape {v.shape}")
    return v


def _fingerprint(
    protocol: str,
    words: Sequence[str],
    train: EmotionDataset,
    valid: EmotionDataset,
    config: ModelConfig,
    hp: TrainHParams,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    fp = {
        "protocol": protocol,
        "emotions": list(words),
        "n_train": len(train),
        "n_valid": len(valid),
        "train_positives": [int(x) for x in ((train.labels > 0.5) & train.label_mask).sum(axis=0)],
        "config": config.to_dict(),
        "hparams": {k: v for k, v in hp.to_dict().items() if k not in ("epochs", "eval_batch_size")},
    }
    fp.update(extra or {})
    return fp


def _metrics_summary(table: MetricsTable, prefix: str) -> dict[str, float]:
    avg = table.average()
    out = {}
    for k in ("w_acc", "auc", "f1", "acc"):
        v = getattr(avg, k)
        if not math.isnan(v):
            out[f"{prefix}_{k}"] = float(v)
    return out


def train_supervised(
    train_ds: EmotionDataset,
    valid_ds: EmotionDataset,
    emotion_words: Sequence[str],
    emotion_vectors: np.ndarray,
    config: ModelConfig | None = None,
    hparams: TrainHParams | None = None,
    *,
    out: str | os.PathLike | None = None,
    feature_spaces: dict | None = None,
    embedding_space: str = "unknown",
    provenance: dict[str, Any] | None = None,
    normalization: dict[str, NormStats] | None = None,
    init_state: dict[str, Any] | None = None,
    checkpoint_words: Sequence[str] | None = None,
    checkpoint_vectors: np.ndarray | None = None,
    display_emotions: Sequence[str] | None = None,
    memory_ds: EmotionDataset | None = None,
    resume: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    device: str | None = None,
    protocol: str = "supervised",
    desc: str = "train",
) -> tuple[Checkpoint, TrainHistory]:
    """Train on ``train_ds`` against ``emotion_words`` and return the best-epoch checkpoint and history.

    Datasets are raw (un-normalised): normalisation statistics are fitted on
    ``train_ds`` (unless ``normalization`` is given), stored in the checkpoint and
    applied to both splits. Label columns are matched to ``emotion_words`` by name
    (words a dataset lacks are unannotated there). ``checkpoint_words``/``vectors``
    (default: the training words) are what the checkpoint lists, e.g. all emotions
    including a zero-shot one. ``memory_ds`` switches on GEM. With ``out`` the
    checkpoint is saved there and a resume sidecar is kept while training.
    """
    hp = hparams or TrainHParams()
    words = [str(w) for w in emotion_words]
    vectors = _check_vectors(words, emotion_vectors)
    _seed_all(hp.seed)
    train_ds = train_ds.select_emotions(words)
    valid_ds = valid_ds.select_emotions(words)
    if config is None:
        config = build_config(train_ds.dims, vectors.shape[1], hp)
    if vectors.shape[1] != config.emb_dim:
        raise TrainingError(
            f"emotion vectors are {vectors.shape[1]}-d but the model's emotion space is {config.emb_dim}-d"
        )
    for m in MODALITIES:
        if train_ds.dims[m] != config.input_dims[m]:
            raise TrainingError(f"{m} features are {train_ds.dims[m]}-d but the model takes {config.input_dims[m]}-d")
    if normalization is None:
        normalization = fit_normalization(train_ds)
    train_t = to_tensors(train_ds.normalized(normalization))
    valid_t = to_tensors(valid_ds.normalized(normalization))
    memory_t = to_tensors(memory_ds.select_emotions(words).normalized(normalization)) if memory_ds is not None else None
    net = EmotionEmbeddingNet(config)
    if init_state is not None:
        sd = {k: torch.as_tensor(v) for k, v in init_state.items()}  # tensors, or numpy from a loaded file
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        net.load_state_dict(sd)
    trainer = Trainer(net, vectors, hp, progress=progress, log=log, device=device)
    sidecar = resume_path(out) if (out is not None and resume) else None
    if out is not None and not resume and resume_path(out).exists():
        resume_path(out).unlink()
    fp = _fingerprint(
        protocol, words, train_ds, valid_ds, config, hp, {"memory": len(memory_ds) if memory_ds is not None else 0}
    )
    history = trainer.fit(train_t, valid_t, memory=memory_t, sidecar=sidecar, fingerprint=fp, desc=desc)
    _, valid_table = trainer.validate(valid_t)
    ck_words = list(checkpoint_words) if checkpoint_words is not None else words
    ck_vecs = _check_vectors(ck_words, checkpoint_vectors) if checkpoint_vectors is not None else vectors
    if checkpoint_vectors is None and ck_words != words:
        raise TrainingError("checkpoint_words given without checkpoint_vectors")
    prov = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "protocol": protocol,
        "trained_emotions": words,
        "hparams": hp.to_dict(),
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epochs),
        "train_samples": len(train_ds),
        "valid_samples": len(valid_ds),
    }
    prov.update(provenance or {})
    metrics = dict(prov.get("metrics") or {})
    metrics.update(_metrics_summary(valid_table, "valid"))
    metrics["best_epoch"] = history.best_epoch
    prov["metrics"] = metrics
    spaces = dict(feature_spaces or {})
    if not spaces:
        from feature_adapters.spaces import FeatureSpace

        spaces = {m: FeatureSpace(f"{m}-{config.input_dims[m]}", config.input_dims[m]) for m in MODALITIES}
    net.cpu()
    ck = Checkpoint.from_model(
        net,
        spaces,
        normalization,
        ck_words,
        ck_vecs,
        embedding_space,
        display_emotions=list(display_emotions or ck_words),
        provenance=prov,
    )
    if out is not None:
        ck.save(out)
        if sidecar is not None and sidecar.exists():
            sidecar.unlink()
    return ck, history


def zsl_split(ds: EmotionDataset, emotion: str) -> EmotionDataset:
    """The paper's ZSL training data: samples positive for ``emotion`` removed, its column dropped."""
    if emotion not in ds.emotions:
        raise TrainingError(
            f"zero-shot emotion '{emotion}' is not a label of {ds.name or 'the data'} ({', '.join(ds.emotions)})"
        )
    keep = np.ones(len(ds), bool)
    keep[ds.positives(emotion)] = False
    rest = [e for e in ds.emotions if e != emotion]
    return ds.subset(keep).select_emotions(rest)


def train_zsl(
    train_ds: EmotionDataset,
    valid_ds: EmotionDataset,
    emotion: str,
    emotion_words: Sequence[str],
    emotion_vectors: np.ndarray,
    hparams: TrainHParams | None = None,
    **kwargs: Any,
) -> tuple[Checkpoint, TrainHistory]:
    """Train without ``emotion`` (positives removed from train and valid); the checkpoint lists it unseen."""
    words = [str(w) for w in emotion_words]
    vectors = _check_vectors(words, emotion_vectors)
    if emotion not in words:
        raise TrainingError(f"zero-shot emotion '{emotion}' is not among the emotion words ({', '.join(words)})")
    seen = [w for w in words if w != emotion]
    seen_vecs = vectors[[words.index(w) for w in seen]]
    tr = zsl_split(train_ds.select_emotions(words), emotion)
    va = zsl_split(valid_ds.select_emotions(words), emotion)
    prov = dict(kwargs.pop("provenance", None) or {})
    prov.update({"unseen_emotions": [emotion], "zsl_removed_train": len(train_ds) - len(tr)})
    return train_supervised(
        tr,
        va,
        seen,
        seen_vecs,
        hparams=hparams,
        checkpoint_words=words,
        checkpoint_vectors=vectors,
        provenance=prov,
        protocol=f"zsl:{emotion}",
        desc=kwargs.pop("desc", f"zsl[{emotion}]"),
        **kwargs,
    )


def fewshot_indices(
    ds: EmotionDataset, emotion: str, fraction: float = 0.01, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """ceil(fraction * positives) positives of ``emotion`` and as many negatives (sorted indices)."""
    pos = ds.positives(emotion)
    neg = ds.negatives(emotion)
    if len(pos) == 0:
        raise TrainingError(f"few-shot emotion '{emotion}' has no positive training samples")
    n = max(1, math.ceil(fraction * len(pos)))
    rng = np.random.default_rng([seed, 7919])
    p = np.sort(rng.choice(pos, size=n, replace=False))
    q = np.sort(rng.choice(neg, size=min(n, len(neg)), replace=False))
    return p, q


def fsl_data(
    train_ds: EmotionDataset, emotion: str, fraction: float = 0.01, seed: int = 0
) -> tuple[EmotionDataset, EmotionDataset]:
    """(new, source): the few-shot samples labelled for ``emotion`` only, and the source data without it.

    ``source`` is the ZSL training set (positives of ``emotion`` removed) with the
    ``emotion`` column unannotated; ``new`` carries only the ``emotion`` label.
    """
    p, q = fewshot_indices(train_ds, emotion, fraction, seed)
    k = train_ds.column(emotion)
    new = train_ds.subset(np.concatenate([p, q]), name=f"fsl[{emotion}]")
    lm = np.zeros_like(new.label_mask)
    lm[:, k] = True
    new = EmotionDataset(
        new.text,
        new.acoustic,
        new.visual,
        new.labels,
        new.emotions,
        new.ids,
        new.step_masks,
        new.modality_mask,
        lm,
        new.name,
    )
    keep = np.ones(len(train_ds), bool)
    keep[train_ds.positives(emotion)] = False
    src = train_ds.subset(keep, name=f"source[-{emotion}]")
    lm = src.label_mask.copy()
    lm[:, k] = False
    src = EmotionDataset(
        src.text,
        src.acoustic,
        src.visual,
        src.labels,
        src.emotions,
        src.ids,
        src.step_masks,
        src.modality_mask,
        lm,
        src.name,
    )
    return new, src


def train_fsl(
    source: Checkpoint,
    train_ds: EmotionDataset,
    valid_ds: EmotionDataset,
    emotion: str,
    mode: str,
    hparams: TrainHParams | None = None,
    *,
    emotion_words: Sequence[str] | None = None,
    emotion_vectors: np.ndarray | None = None,
    **kwargs: Any,
) -> tuple[Checkpoint, TrainHistory]:
    """Few-shot adaptation of ``source`` (trained without ``emotion``) in mode 'ft', 'jt' or 'gem'.

    Validation uses every emotion (new and old) of ``valid_ds``, as the paper
    selects few-shot models on the average of all emotions. The source model's
    normalisation statistics are kept.
    """
    if mode not in FSL_MODES:
        raise TrainingError(f"unknown few-shot mode '{mode}' (use {', '.join(FSL_MODES)})")
    hp = hparams or TrainHParams()
    words = [str(w) for w in (emotion_words or train_ds.emotions)]
    if emotion not in words:
        raise TrainingError(f"few-shot emotion '{emotion}' is not among the emotion words ({', '.join(words)})")
    if emotion_vectors is None:
        missing = [w for w in words if source.vector_of(w) is None]
        if missing:
            raise TrainingError(f"the source checkpoint has no vectors for {', '.join(missing)}; pass emotion vectors")
        vectors = np.stack([source.vector_of(w) for w in words])
    else:
        vectors = _check_vectors(words, emotion_vectors)
    trained = (source.provenance or {}).get("trained_emotions")
    if trained and emotion in trained:
        raise TrainingError(
            f"the source checkpoint was trained with '{emotion}'; few-shot needs a model trained without it (--zsl {emotion})"
        )
    tr = train_ds.select_emotions(words)
    new, src = fsl_data(tr, emotion, hp.fsl_fraction, hp.seed)
    memory = None
    if mode == "ft":
        train_set = new
    elif mode == "jt":
        train_set = concat([src, new], name=f"jt[{emotion}]")
    else:
        train_set = new
        rng = np.random.default_rng([hp.seed, 104729])
        idx = np.sort(rng.choice(len(src), size=min(hp.gem_memory, len(src)), replace=False))
        memory = src.subset(idx, name="gem-memory")
    prov = dict(kwargs.pop("provenance", None) or {})
    prov.update(
        {
            "few_shot": {
                "emotion": emotion,
                "mode": mode,
                "positives": int((new.labels[:, new.column(emotion)] > 0.5).sum()),
                "samples": len(new),
                "memory": len(memory) if memory is not None else 0,
                "source_checkpoint": str(source.path) if source.path else None,
            },
            "new_emotions": [emotion],
        }
    )
    return train_supervised(
        train_set,
        valid_ds,
        words,
        vectors,
        config=source.config,
        hparams=hp,
        normalization=dict(source.normalization),
        init_state=source.state_dict,
        memory_ds=memory,
        provenance=prov,
        protocol=f"fsl-{mode}:{emotion}",
        desc=kwargs.pop("desc", f"fsl-{mode}[{emotion}]"),
        **kwargs,
    )
