"""One self-describing checkpoint file.

It holds the weights (fp16), the model config, each modality's feature space
(name, dim, columns), the normalisation statistics fitted on the training data,
the trained emotion words with their vectors, the display set, and provenance
(data, command, date, metrics). Saving is atomic.

The file is safetensors: the weights (fp16) and the emotion vectors (fp32) are
tensors, everything else is JSON in the header's ``__metadata__`` (one entry per
payload field). Reading it needs numpy and safetensors only, not torch. Files
from before (a ``torch.save`` zip, recognised by its ``PK\\x03\\x04`` magic)
still load; only then is torch imported.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from feature_adapters.errors import LivemerError
from feature_adapters.spaces import FeatureSpace, FeatureSpaceMismatch, check_compatible

from .config import MODALITIES, ModelConfig
from .normalize import NormStats

FORMAT = "livemer-checkpoint"
VERSION = 2  # 2: safetensors container; 1: torch.save zip (still read)
ZIP_MAGIC = b"PK\x03\x04"
_SD_PREFIX = "state_dict/"
_EXTRA_PREFIX = "extra/"
_TENSOR_FIELDS = ("state_dict", "emotion_vectors", "extras")


class CheckpointError(LivemerError, ValueError):
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
    #: named arrays that travel with the weights, e.g. the few-shot replay set (``model.adapt``)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

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
    ) -> Checkpoint:
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
        """A fresh torch network in eval mode with these weights (for training and evaluation)."""
        from .network import EmotionEmbeddingNet

        net = EmotionEmbeddingNet(self.config)
        try:
            net.load_state_dict(self.torch_state_dict())
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{self._where()}: weights do not fit the config ({first})") from exc
        net.eval()
        return net

    def build_runtime(self):
        """The numpy forward pass (:class:`model.runtime.NumpyEmotionNet`) with these weights; no torch needed."""
        from .runtime import NumpyEmotionNet

        try:
            return NumpyEmotionNet.from_state_dict(self.config, self.state_dict)
        except ValueError as exc:
            raise CheckpointError(f"{self._where()}: {exc}") from None

    def torch_state_dict(self) -> dict[str, Any]:
        """The weights as float32 torch tensors (e.g. to initialise training from this checkpoint)."""
        import torch

        return {
            k: torch.from_numpy(np.array(_as_numpy(v), np.float32 if _as_numpy(v).dtype.kind == "f" else None))
            for k, v in self.state_dict.items()
        }

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
            "feature_spaces": {
                m: {"name": s.name, "dim": s.dim, "filled": len(s.filled)} for m, s in self.feature_spaces.items()
            },
            "embedding_space": self.embedding_space,
            "emotion_words": self.emotion_words,
            "display_emotions": self.display_emotions,
            "provenance": self.provenance,
        }

    def _where(self) -> str:
        return f"checkpoint {self.path}" if self.path else "checkpoint"

    # -- I/O ----------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """Everything as plain Python metadata plus numpy arrays (fp16 weights, fp32 word vectors)."""
        sd = {}
        for k, v in self.state_dict.items():
            a = _as_numpy(v)
            sd[str(k)] = a.astype(np.float16) if a.dtype.kind == "f" else a
        prov = dict(self.provenance)
        prov.setdefault("saved", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": _plain(self.config.to_dict()),
            "state_dict": sd,
            "feature_spaces": {str(m): _plain(s.to_dict()) for m, s in self.feature_spaces.items()},
            "normalization": {str(m): _plain(s.to_dict()) for m, s in self.normalization.items()},
            "emotion_words": [str(w) for w in self.emotion_words],
            "emotion_vectors": np.asarray(self.emotion_vectors, np.float32),
            "embedding_space": str(self.embedding_space),
            "display_emotions": [str(w) for w in self.display_emotions],
            "provenance": _plain(prov),
            "extras": {str(k): np.asarray(_as_numpy(v)) for k, v in self.extras.items()},
        }

    def to_bytes(self) -> bytes:
        """The file's content (safetensors)."""
        return encode_payload(self.to_payload())

    @classmethod
    def from_bytes(cls, data: bytes, path: Path | None = None) -> Checkpoint:
        return cls.from_payload(decode_payload(data, path), path)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            data = self.to_bytes()
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Checkpoint:
        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"checkpoint not found: {path}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"{path}: not a readable livemer checkpoint ({type(exc).__name__})") from None
        return cls.from_bytes(data, path)

    @classmethod
    def from_payload(cls, payload: Any, path: Path | None = None) -> Checkpoint:
        """A checkpoint from a payload dict (as :meth:`to_payload` gives; torch tensors are accepted too)."""
        where = str(path) if path else "checkpoint"
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not a livemer checkpoint (missing format tag '{FORMAT}')")
        try:
            version = int(payload.get("version", 0))
        except (TypeError, ValueError):
            raise CheckpointError(f"{where}: malformed checkpoint (version {payload.get('version')!r})") from None
        if version > VERSION:
            raise CheckpointError(
                f"{where}: checkpoint version {payload['version']} is newer than this livemer ({VERSION})"
            )
        try:
            cfg = ModelConfig.from_dict(payload["config"])
            spaces = {m: FeatureSpace.from_dict(d) for m, d in payload["feature_spaces"].items()}
            norm = {m: NormStats.from_dict(d) for m, d in payload["normalization"].items()}
            vecs = _as_numpy(payload["emotion_vectors"]).astype(np.float32)
            ck = cls(
                config=cfg,
                state_dict={str(k): _as_numpy(v) for k, v in dict(payload["state_dict"]).items()},
                feature_spaces=spaces,
                normalization=norm,
                emotion_words=[str(w) for w in payload["emotion_words"]],
                emotion_vectors=vecs,
                embedding_space=str(payload["embedding_space"]),
                display_emotions=[str(w) for w in (payload.get("display_emotions") or payload["emotion_words"])],
                provenance=dict(payload.get("provenance") or {}),
                path=path,
                extras={str(k): _as_numpy(v) for k, v in dict(payload.get("extras") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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


def encode_payload(payload: dict[str, Any]) -> bytes:
    """A payload dict -> safetensors bytes: arrays as tensors, every other field as JSON metadata."""
    from safetensors.numpy import save

    tensors = {
        f"{_SD_PREFIX}{k}": np.ascontiguousarray(_as_numpy(v)) for k, v in (payload.get("state_dict") or {}).items()
    }
    if payload.get("emotion_vectors") is not None:
        tensors["emotion_vectors"] = np.ascontiguousarray(_as_numpy(payload["emotion_vectors"]))
    for k, v in (payload.get("extras") or {}).items():
        tensors[f"{_EXTRA_PREFIX}{k}"] = np.ascontiguousarray(_as_numpy(v))
    meta = {str(k): json.dumps(_plain(v)) for k, v in payload.items() if k not in _TENSOR_FIELDS}
    return save(tensors, metadata=meta)


def decode_payload(data: bytes, path: Path | None = None) -> Any:
    """File bytes (safetensors, or the old torch zip) -> the payload dict; CheckpointError if unreadable."""
    where = str(path) if path else "checkpoint"
    try:
        if bytes(data[:4]) == ZIP_MAGIC:
            return _decode_torch(data)
        return _decode_safetensors(data)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{where}: not a readable livemer checkpoint ({type(exc).__name__})") from None


def _decode_safetensors(data: bytes) -> dict[str, Any]:
    from safetensors.numpy import load

    tensors = load(bytes(data))  # validates the header, offsets and sizes
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(bytes(data[8 : 8 + n])).get("__metadata__") or {}
    payload: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            payload[k] = json.loads(v)
        except (TypeError, ValueError):
            payload[k] = v  # someone else's safetensors file: from_payload rejects it by its format tag
    payload["state_dict"] = {k[len(_SD_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_SD_PREFIX)}
    if "emotion_vectors" in tensors:
        payload["emotion_vectors"] = tensors["emotion_vectors"]
    payload["extras"] = {k[len(_EXTRA_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_EXTRA_PREFIX)}
    return payload


def _decode_torch(data: bytes) -> Any:
    """Version-1 files (``torch.save`` of the payload dict)."""
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _as_numpy(v: Any) -> np.ndarray:
    """A numpy array from an array or a (CPU or not) torch tensor, without importing torch."""
    if hasattr(v, "detach") and hasattr(v, "cpu"):
        return v.detach().cpu().numpy()
    return np.asarray(v)


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
