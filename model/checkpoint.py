"""One self-describing checkpoint file.

It holds the weights (fp16), the model config, each modality's feature space
(name, dim, columns), the normalisation statistics fitted on the training data,
the trained emotion words with their vectors, the display set, and provenance
(data, command, date, metrics). Saving is atomic.
"""
from __future__ import annotations

import datetime as _dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from feature_adapters.spaces import FeatureSpace, FeatureSpaceMismatch, check_compatible

from .config import MODALITIES, ModelConfig
from .normalize import NormStats

FORMAT = "livemer-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the running extractors."""


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict[str, Any]
    feature_spaces: dict[str, FeatureSpace]
    normalization: dict[str, NormStats]
    emotion_words: list[str]
    emotion_vectors: np.ndarray  # (K, emb_dim) float32, the frozen E_t rows of the trained words
    embedding_space: str  # e.g. "glove-6B-50d"
    display_emotions: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # -- construction -------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        net,
        feature_spaces: dict[str, FeatureSpace],
        normalization: dict[str, NormStats],
        emotion_words: list[str],
        emotion_vectors: np.ndarray,
        embedding_space: str,
        display_emotions: list[str] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> "Checkpoint":
        return cls(
            config=net.config,
            state_dict={k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            feature_spaces=dict(feature_spaces),
            normalization=dict(normalization),
            emotion_words=list(emotion_words),
            emotion_vectors=np.asarray(emotion_vectors, np.float32),
            embedding_space=embedding_space,
            display_emotions=list(display_emotions or emotion_words),
            provenance=dict(provenance or {}),
        )

    def build_model(self):
        """A fresh network in eval mode with these weights."""
        import torch

        from .network import EmotionEmbeddingNet

        net = EmotionEmbeddingNet(self.config)
        sd = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in self.state_dict.items()}
        try:
            net.load_state_dict(sd)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{self._where()}: weights do not fit the config ({first})") from exc
        net.eval()
        return net

    # -- queries ------------------------------------------------------------
    def vector_of(self, word: str) -> np.ndarray | None:
        try:
            return self.emotion_vectors[self.emotion_words.index(word)]
        except ValueError:
            return None

    def check_spaces(self, running: dict[str, FeatureSpace]) -> None:
        """Raise CheckpointError (one line) unless each given running space matches ours."""
        for m, space in running.items():
            if m not in self.feature_spaces:
                raise CheckpointError(f"{self._where()}: no feature space recorded for modality '{m}'")
            try:
                check_compatible(m, self.feature_spaces[m], space)
            except FeatureSpaceMismatch as exc:
                raise CheckpointError(f"{self._where()}: {exc}") from None

    def summary(self) -> dict[str, Any]:
        n_params = sum(int(np.prod(v.shape)) for v in self.state_dict.values() if hasattr(v, "shape"))
        return {
            "path": str(self.path) if self.path else None,
            "parameters": n_params,
            "config": self.config.to_dict(),
            "feature_spaces": {m: {"name": s.name, "dim": s.dim, "filled": len(s.filled)} for m, s in self.feature_spaces.items()},
            "embedding_space": self.embedding_space,
            "emotion_words": self.emotion_words,
            "display_emotions": self.display_emotions,
            "provenance": self.provenance,
        }

    def _where(self) -> str:
        return f"checkpoint {self.path}" if self.path else "checkpoint"

    # -- I/O ----------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        import torch

        sd = {k: (v.half() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in self.state_dict.items()}
        prov = dict(self.provenance)
        prov.setdefault("saved", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        # Metadata must be plain Python: load() uses weights_only=True, which refuses numpy scalars.
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": _plain(self.config.to_dict()),
            "state_dict": sd,
            "feature_spaces": {str(m): _plain(s.to_dict()) for m, s in self.feature_spaces.items()},
            "normalization": {str(m): _plain(s.to_dict()) for m, s in self.normalization.items()},
            "emotion_words": [str(w) for w in self.emotion_words],
            "emotion_vectors": torch.from_numpy(np.asarray(self.emotion_vectors, np.float32)),
            "embedding_space": str(self.embedding_space),
            "display_emotions": [str(w) for w in self.display_emotions],
            "provenance": _plain(prov),
        }

    def save(self, path: str | os.PathLike) -> Path:
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(self.to_payload(), tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Checkpoint":
        import torch

        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"checkpoint not found: {path}")
        try:
            with open(path, "rb") as fh:
                payload = torch.load(io.BytesIO(fh.read()), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{path}: not a readable livemer checkpoint ({type(exc).__name__})") from None
        return cls.from_payload(payload, path)

    @classmethod
    def from_payload(cls, payload: Any, path: Path | None = None) -> "Checkpoint":
        where = str(path) if path else "checkpoint"
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not a livemer checkpoint (missing format tag '{FORMAT}')")
        if int(payload.get("version", 0)) > VERSION:
            raise CheckpointError(f"{where}: checkpoint version {payload['version']} is newer than this livemer ({VERSION})")
        try:
            cfg = ModelConfig.from_dict(payload["config"])
            spaces = {m: FeatureSpace.from_dict(d) for m, d in payload["feature_spaces"].items()}
            norm = {m: NormStats.from_dict(d) for m, d in payload["normalization"].items()}
            vecs = payload["emotion_vectors"]
            vecs = vecs.float().numpy() if hasattr(vecs, "numpy") else np.asarray(vecs, np.float32)
            ck = cls(
                config=cfg,
                state_dict=dict(payload["state_dict"]),
                feature_spaces=spaces,
                normalization=norm,
                emotion_words=list(payload["emotion_words"]),
                emotion_vectors=vecs,
                embedding_space=str(payload["embedding_space"]),
                display_emotions=list(payload.get("display_emotions") or payload["emotion_words"]),
                provenance=dict(payload.get("provenance") or {}),
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where}: malformed checkpoint ({type(exc).__name__}: {exc})") from None
        if ck.emotion_vectors.shape != (len(ck.emotion_words), cfg.emb_dim):
            raise CheckpointError(
                f"{where}: {len(ck.emotion_words)} emotion words but vectors of shape {ck.emotion_vectors.shape}"
            )
        for m in MODALITIES:
            if m in spaces and spaces[m].dim != cfg.input_dims[m]:
                raise CheckpointError(
                    f"{where}: {m} feature space '{spaces[m].name}' is {spaces[m].dim}-d but the model takes {cfg.input_dims[m]}"
                )
        return ck


def _plain(x: Any) -> Any:
    """Metadata as plain Python (dict/list/str/int/float/bool/None); numpy values unwrapped, others str()."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):  # before the float/str checks: np.float64 and np.str_ subclass them
        return _plain(x.item())
    if x is None or type(x) in (bool, int, float, str):
        return x
    for t in (bool, int, float):  # subclasses such as IntEnum
        if isinstance(x, t):
            return t(x)
    return str(x)


def default_checkpoint_path() -> Path:
    """The embedded default checkpoint shipped in ``assets/``."""
    env = os.environ.get("LIVEMER_CHECKPOINT")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("assets") / "default.ckpt"))


def load_checkpoint(path: str | os.PathLike | None = None) -> Checkpoint:
    p = Path(path) if path else default_checkpoint_path()
    if path is None and not p.exists():
        raise CheckpointError(f"the embedded default checkpoint is missing ({p}); pass --checkpoint PATH")
    return Checkpoint.load(p)
