"""Inference: aligned windows + a list of emotion vectors -> a typed prediction.

The default backend is the numpy forward pass of :mod:`model.runtime`; this
path never imports torch. ``backend="torch"`` runs :class:`model.network.EmotionEmbeddingNet`
instead (same results within float rounding).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import calibration, runtime
from .checkpoint import Checkpoint
from .config import MODALITIES
from .normalize import apply_stats, sanitize

_LETTERS = {"t": "text", "a": "acoustic", "v": "visual"}


def parse_modalities(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """'tav', 'ta', 'av' ... or a list of modality names -> ordered full names."""
    if spec is None:
        return MODALITIES
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s in ("all", ""):
            return MODALITIES
        bad = [c for c in s if c not in _LETTERS]
        if bad:
            raise ValueError(f"modalities '{spec}': use letters t (text), a (acoustic), v (visual), e.g. 'tav' or 'av'")
        names = {_LETTERS[c] for c in s}
    else:
        names = set(spec)
        unknown = names - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities: {sorted(unknown)}")
    return tuple(m for m in MODALITIES if m in names)


@dataclass
class EmotionPrediction:
    """What the model says about one window."""

    emotions: list[str]
    probabilities: np.ndarray  # (K,) sigmoid of the fused logit; NaN when no modality was used
    logits: np.ndarray  # (K,)
    modality_scores: dict[str, np.ndarray]  # raw s_m = E_m r_m, (K,) each, for the modalities used
    contributions: dict[str, np.ndarray]  # w_eff,m * s_m, (K,) each; they sum to the logits
    modalities_used: tuple[str, ...]
    fusion_weights: dict[str, float]  # effective weights for this window

    def as_dict(self) -> dict[str, float]:
        return {e: float(p) for e, p in zip(self.emotions, self.probabilities)}

    def top(self) -> tuple[str, float] | None:
        if not len(self.emotions) or np.all(np.isnan(self.probabilities)):
            return None
        i = int(np.nanargmax(self.probabilities))
        return self.emotions[i], float(self.probabilities[i])


@dataclass
class WindowBatch:
    text: np.ndarray  # (B, T, d_t)
    acoustic: np.ndarray
    visual: np.ndarray
    step_masks: dict[str, np.ndarray] = field(default_factory=dict)  # modality -> (B, T) bool
    modality_mask: np.ndarray | None = None  # (B, 3) bool


def batch_windows(windows: Sequence) -> WindowBatch:
    """Stack ``feature_adapters.windows.Window`` objects (duck-typed) into arrays."""
    return WindowBatch(
        text=np.stack([w.text for w in windows]).astype(np.float32),
        acoustic=np.stack([w.acoustic for w in windows]).astype(np.float32),
        visual=np.stack([w.visual for w in windows]).astype(np.float32),
        step_masks={
            "text": np.stack([w.text_mask for w in windows]).astype(bool),
            "acoustic": np.stack([w.acoustic_mask for w in windows]).astype(bool),
            "visual": np.stack([w.visual_mask for w in windows]).astype(bool),
        },
        modality_mask=np.stack([w.modality_mask for w in windows]).astype(bool),
    )


def dataset_batch(ds, index: slice | np.ndarray) -> WindowBatch:
    """The samples ``index`` of a :class:`model.datasets.EmotionDataset` (duck-typed) as a batch."""
    return WindowBatch(
        text=ds.text[index],
        acoustic=ds.acoustic[index],
        visual=ds.visual[index],
        step_masks={m: ds.step_masks[m][index] for m in MODALITIES},
        modality_mask=ds.modality_mask[index],
    )


BACKENDS = ("numpy", "torch")


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional: the forward pass is the same, only BLAS threads are not capped
        return None
    return ThreadpoolController()


class Predictor:
    """Runs a checkpoint on windows for any list of emotions.

    Emotion vectors come from the checkpoint's trained words, then from
    ``extra_vectors`` (user-added emotions), then from an embedding provider of
    the same space, if one is given. ``backend`` is "numpy" (default, no torch)
    or "torch". ``threads`` caps the BLAS threads of the numpy forward pass
    (default 1: batch-1 LSTM steps are tiny and BLAS threads only contend with
    capture and feature extraction) or sets torch's thread count on the torch backend.
    """

    def __init__(self, checkpoint: Checkpoint, provider=None, threads: int | None = None, backend: str = "numpy"):
        if backend not in BACKENDS:
            raise ValueError(f"backend '{backend}': use one of {', '.join(BACKENDS)}")
        self.checkpoint = checkpoint
        self.provider = provider
        self.backend = backend
        self.threads = threads
        self._net = None
        self.runtime = checkpoint.build_runtime() if backend == "numpy" else None
        self._blas = _blas_controller() if backend == "numpy" else None
        if backend == "torch":
            self._torch_net()
        self.extra_vectors: dict[str, np.ndarray] = {}
        self.adapted: dict[str, dict[str, np.ndarray]] = {}  # name -> modality -> learned embedding (model.adapt)
        self.offsets: dict[str, float] = {}  # name -> score offset of its adapter (model.adapt.OFFSET_KEY)
        self._cache_key: tuple | None = None
        self._cache_E: np.ndarray | None = None
        self._cache_embs: dict[str, np.ndarray] | None = None
        self.calibration: dict[str, np.ndarray] = {}  # modality -> raw feature shift (model.calibration)

    def _torch_net(self):
        if self._net is None:
            import torch

            if self.threads:
                torch.set_num_threads(int(self.threads))
            self._net = self.checkpoint.build_model()
        return self._net

    @property
    def net(self):
        """The torch network (built on first use: this imports torch)."""
        return self._torch_net()

    @property
    def fusion_weights(self) -> np.ndarray:
        """The learned positive fusion weights (3,), text, acoustic, visual."""
        if self.runtime is not None:
            return self.runtime.fusion_weights.copy()
        return self._torch_net().fusion_weights.detach().numpy()

    def add_emotion(self, name: str, vector: np.ndarray) -> None:
        v = np.asarray(vector, np.float32).reshape(-1)
        if v.shape[0] != self.checkpoint.config.emb_dim:
            raise ValueError(
                f"emotion '{name}': vector is {v.shape[0]}-d, the model needs {self.checkpoint.config.emb_dim}"
            )
        self.extra_vectors[name] = v
        self._cache_key = None

    def set_adaptation(self, name: str, embeddings: dict[str, np.ndarray]) -> None:
        """Score ``name`` with learned per-modality embeddings (a few-shot adapter) where given.

        Modalities not in ``embeddings`` keep the word vector's mapping. An
        ``"offset"`` entry (one number, :data:`model.adapt.OFFSET_KEY`) is added to
        the emotion's score in every present modality, so its fused logit moves by
        ``offset * sum(fusion weights)`` whatever modalities are present. Raises
        ValueError when a vector does not fit the modality's space.
        """
        hidden = self.checkpoint.config.hidden
        rows, offset = {}, 0.0
        for m, v in embeddings.items():
            if m == "offset":
                o = np.asarray(v, np.float64).reshape(-1)
                if o.size != 1 or not np.isfinite(o[0]):
                    raise ValueError(f"emotion '{name}': the adapter's offset must be one finite number")
                offset = float(o[0])
                continue
            if m not in MODALITIES:
                raise ValueError(f"emotion '{name}': unknown modality '{m}' in its adaptation")
            v = np.asarray(v, np.float32).reshape(-1)
            if v.shape[0] != int(hidden[m]):
                raise ValueError(
                    f"emotion '{name}': adapted {m} embedding is {v.shape[0]}-d, the model's {m} space is {hidden[m]}-d"
                )
            rows[m] = v
        self.adapted[name] = rows
        if offset:
            self.offsets[name] = offset
        else:
            self.offsets.pop(name, None)
        self._cache_key = None

    def set_calibration(self, shift: dict[str, np.ndarray] | None) -> None:
        """Take a per-user baseline ``shift`` (modality -> (d_m,) raw features) off every observed step; None clears it."""
        out = {}
        for m, v in (shift or {}).items():
            v = np.asarray(v, np.float32).reshape(-1)
            if m not in MODALITIES or v.shape[0] != int(self.checkpoint.config.input_dims[m]):
                raise ValueError(
                    f"calibration for '{m}' has {v.shape[0]} features, the model takes "
                    f"{self.checkpoint.config.input_dims.get(m)}"
                )
            out[m] = v
        self.calibration = out

    def clear_adaptation(self, name: str) -> None:
        self.adapted.pop(name, None)
        self.offsets.pop(name, None)
        self._cache_key = None

    def emotion_embeddings(self, emotions: Sequence[str]) -> dict[str, np.ndarray]:
        """The (K, d_m) emotion embeddings of every modality: f_t->m of the word vectors, adapted rows replaced."""
        self._E(emotions)
        return self._cache_embs

    def emotion_matrix(self, emotions: Sequence[str]) -> np.ndarray:
        rows = []
        for e in emotions:
            v = self.extra_vectors.get(e)
            if v is None:
                v = self.checkpoint.vector_of(e)
            if v is None and self.provider is not None:
                if self.provider.name != self.checkpoint.embedding_space:
                    raise ValueError(
                        f"word vectors are {self.provider.name} but the checkpoint uses {self.checkpoint.embedding_space}"
                    )
                v = self.provider.vector(e)
            if v is None:
                raise KeyError(f"no vector for emotion '{e}': add it with `livemer add-emotion {e}`")
            rows.append(np.asarray(v, np.float32))
        return np.stack(rows) if rows else np.zeros((0, self.checkpoint.config.emb_dim), np.float32)

    def _E(self, emotions: Sequence[str]) -> np.ndarray:  # noqa: N802
        key = tuple(emotions)
        if key != self._cache_key:
            E = self.emotion_matrix(emotions)
            if self.runtime is not None:
                embs = self.runtime.emotion_embeddings(E)
            else:
                import torch

                with torch.inference_mode():
                    embs = {m: v.numpy() for m, v in self._torch_net().emotion_embeddings(torch.from_numpy(E)).items()}
            embs = {m: np.array(v, np.float32) for m, v in embs.items()}
            for i, e in enumerate(emotions):
                for m, v in self.adapted.get(e, {}).items():
                    embs[m][i] = v
            self._cache_E, self._cache_embs, self._cache_key = E, embs, key
        return self._cache_E

    def prepare(
        self, batch: WindowBatch, modalities: Sequence[str] = MODALITIES, calibrated: bool = True
    ) -> tuple[dict, np.ndarray]:
        """Normalise features with the checkpoint's statistics and build the (B, 3) mask.

        ``calibrated=False`` leaves the per-user baseline shift out (e.g. for the replay set).
        """
        shift = self.calibration if calibrated else {}
        xs = {"text": batch.text, "acoustic": batch.acoustic, "visual": batch.visual}
        B = batch.text.shape[0]
        out = {}
        for m in MODALITIES:
            sm = batch.step_masks.get(m)
            stats = self.checkpoint.normalization.get(m)
            x = calibration.apply_shift(xs[m], shift.get(m), sm)
            if stats is not None:
                x = apply_stats(x, stats, sm)
            else:
                x = sanitize(x)  # NaN/inf never reach the network
                if sm is not None:
                    x = x * sm[..., None]
            out[m] = x.astype(np.float32)
        mask = batch.modality_mask if batch.modality_mask is not None else np.ones((B, 3), bool)
        wanted = np.array([m in modalities for m in MODALITIES], bool)
        return out, mask & wanted[None, :]

    def predict_batch(
        self, batch: WindowBatch, emotions: Sequence[str] | None = None, modalities: str | Sequence[str] | None = None
    ) -> list[EmotionPrediction]:
        emotions = list(emotions if emotions is not None else self.checkpoint.display_emotions)
        mods = parse_modalities(modalities)
        xs, mask = self.prepare(batch, mods)
        embs = self.emotion_embeddings(emotions)
        if self.runtime is not None:
            with self._blas_limit():
                out = self.runtime.forward_embeddings(xs["text"], xs["acoustic"], xs["visual"], embs, mask)
            logits, scores, contrib = out.logits, out.scores, out.contributions
        else:
            logits, scores, contrib = self._forward_torch(xs, embs, mask)
        weff = runtime.effective_weights(self.fusion_weights, mask)
        if any(e in self.offsets for e in emotions):
            off = np.asarray([self.offsets.get(e, 0.0) for e in emotions], np.float32)
            scores = scores + off[None, None, :]
            contrib = contrib + weff[:, :, None] * off[None, None, :]
            logits = contrib.sum(axis=1)
        preds = []
        for i in range(logits.shape[0]):
            used = tuple(m for j, m in enumerate(MODALITIES) if mask[i, j])
            probs = 1.0 / (1.0 + np.exp(-logits[i].astype(np.float64)))
            if not used:
                probs = np.full_like(probs, np.nan)
            preds.append(
                EmotionPrediction(
                    emotions=emotions,
                    probabilities=probs.astype(np.float32),
                    logits=logits[i],
                    modality_scores={m: scores[i, j] for j, m in enumerate(MODALITIES) if mask[i, j]},
                    contributions={m: contrib[i, j] for j, m in enumerate(MODALITIES) if mask[i, j]},
                    modalities_used=used,
                    fusion_weights={m: float(weff[i, j]) for j, m in enumerate(MODALITIES)},
                )
            )
        return preds

    def _blas_limit(self):
        if self._blas is None:
            return contextlib.nullcontext()
        return self._blas.limit(limits=int(self.threads or 1), user_api="blas")

    def _forward_torch(self, xs: dict, embs: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        from .fusion import fuse, modality_scores

        net = self._torch_net()
        with torch.inference_mode():
            reps = net.encode(
                torch.from_numpy(xs["text"]), torch.from_numpy(xs["acoustic"]), torch.from_numpy(xs["visual"])
            )
            scores = torch.stack([modality_scores(reps[m], torch.from_numpy(embs[m])) for m in MODALITIES], dim=1)
            logits, contrib = fuse(scores, net.fusion_weights, torch.from_numpy(mask))
        return logits.numpy(), scores.numpy(), contrib.numpy()

    def representations(
        self, batch: WindowBatch, modalities: str | Sequence[str] | None = None, calibrated: bool = True
    ) -> tuple[dict, np.ndarray]:
        """Each modality's encoder output r_m (B, d_m) and the (B, 3) mask used: what a few-shot adapter is fitted on."""
        xs, mask = self.prepare(batch, parse_modalities(modalities), calibrated)
        if self.runtime is not None:
            with self._blas_limit():
                reps = self.runtime.encode(xs["text"], xs["acoustic"], xs["visual"])
        else:
            import torch

            with torch.inference_mode():
                reps = {
                    m: v.numpy()
                    for m, v in self._torch_net().encode(*(torch.from_numpy(xs[m]) for m in MODALITIES)).items()
                }
        return {m: np.asarray(v, np.float32) for m, v in reps.items()}, mask

    def predict(
        self, window, emotions: Sequence[str] | None = None, modalities: str | Sequence[str] | None = None
    ) -> EmotionPrediction:
        """One ``Window`` -> one :class:`EmotionPrediction`."""
        return self.predict_batch(batch_windows([window]), emotions, modalities)[0]

    def predict_windows(
        self, windows: Sequence, emotions=None, modalities=None, batch_size: int = 256
    ) -> list[EmotionPrediction]:
        out: list[EmotionPrediction] = []
        for i in range(0, len(windows), batch_size):
            out.extend(self.predict_batch(batch_windows(windows[i : i + batch_size]), emotions, modalities))
        return out
