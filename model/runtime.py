"""The network's forward pass in pure numpy (float32), for inference without torch.

Same maths as :class:`model.network.EmotionEmbeddingNet` in eval mode: per
modality a stacked bidirectional LSTM (PyTorch gate order i, f, g, o; batch
first; the two directions summed; pooled as the config says), the f_{t->a} and
f_{t->v} linear maps of the emotion vectors, dot-product scores and the
mask-aware fusion of :mod:`model.fusion`. Importing this module does not
import torch; it reads a state dict of numpy arrays (or anything
``np.asarray`` accepts, e.g. CPU tensors) with the network's key names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import MODALITIES, ModelConfig
from .zeroshot import compose_by_rule

_F32 = np.float32


# -- pure maths (numpy twins of model.fusion; tests check them against the torch versions) ----------
def softplus(x: np.ndarray) -> np.ndarray:
    """torch.nn.functional.softplus with beta=1, threshold=20."""
    x = np.asarray(x, _F32)
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20)))).astype(_F32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    return 0.5 * np.tanh(0.5 * x) + 0.5


def modality_scores(r: np.ndarray, E: np.ndarray) -> np.ndarray:
    """(B, d) representations against (K, d) emotion embeddings -> (B, K) scores."""
    return r @ E.T


def effective_weights(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-sample weights (B, M) from positive weights ``w`` (M,) and a (B, M) presence mask.

    Absent modalities get 0; present ones are rescaled so their sum equals w.sum().
    A sample with no modality present gets all-zero weights (its logits are 0).
    """
    w = np.asarray(w, _F32)
    m = np.asarray(mask).astype(_F32)
    present = (w[None, :] * m).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(present > 0, w.sum() / np.maximum(present, _F32(1e-12)), _F32(0))
    return (w[None, :] * m * scale).astype(_F32)


def fuse(scores: np.ndarray, w: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fuse (B, M, K) per-modality scores into (B, K) logits; also return the (B, M, K) contributions."""
    weff = effective_weights(w, mask)[..., None]  # (B, M, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        # where(), not a plain product: an absent modality's NaN/inf scores must not leak (NaN * 0 = NaN)
        contrib = np.where(weff > 0, scores * weff, _F32(0)).astype(_F32)
    return contrib.sum(axis=1), contrib


# -- LSTM -------------------------------------------------------------------------------------------
@dataclass
class _Direction:
    w_ih_t: np.ndarray  # (D, 4H), transposed for x @ w
    w_hh_t: np.ndarray  # (H, 4H)
    bias: np.ndarray  # (4H,) = b_ih + b_hh


def _cell(z: np.ndarray, c: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre-activations z (B, 4H) in gate order i, f, g, o and the cell state -> (h, c)."""
    s = sigmoid(z)
    i, f, o = s[:, :H], s[:, H : 2 * H], s[:, 3 * H :]
    g = np.tanh(z[:, 2 * H : 3 * H])
    c = f * c + i * g
    return o * np.tanh(c), c


def _run(d: _Direction, x: np.ndarray, reverse: bool) -> np.ndarray:
    """One direction over (B, T, D) -> hidden states (B, T, H), zero initial state."""
    B, T, _ = x.shape
    H = d.w_hh_t.shape[0]
    zx = x @ d.w_ih_t + d.bias  # (B, T, 4H): the input part of every step at once
    h = np.zeros((B, H), _F32)
    c = np.zeros((B, H), _F32)
    out = np.empty((B, T, H), _F32)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        h, c = _cell(zx[:, t] + h @ d.w_hh_t, c, H)
        out[:, t] = h
    return out


def pool_outputs(
    fwd: np.ndarray, bwd: np.ndarray | None, observed: np.ndarray, pooling: str, bwd_last: np.ndarray | None = None
) -> np.ndarray:
    """Numpy twin of :func:`model.network.pool_outputs` on the two directions' (B, T, H) outputs; "last"
    may pass only the backward output at the last step (``bwd_last``, (B, H)) instead of ``bwd``."""
    if pooling == "last":
        return fwd[:, -1] + (bwd[:, -1] if bwd_last is None else bwd_last)
    if pooling == "ends":
        first = np.asarray(observed, bool).argmax(axis=1)
        return fwd[:, -1] + bwd[np.arange(len(fwd)), first]
    if pooling == "mean":
        w = np.asarray(observed, _F32)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, _F32(1))
        return ((fwd + bwd) * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown pooling {pooling!r}")


class NumpyEncoder:
    """Stacked bi-LSTM, directions summed, pooled by ``pooling``: ``SequenceEncoder`` in eval mode.

    ``input_layer``: (W^T (D, W), b (W,)) of the optional per-step Linear + ReLU in front of the LSTM.
    """

    def __init__(
        self,
        layers: list[tuple[_Direction, _Direction]],
        input_layer: tuple[np.ndarray, np.ndarray] | None = None,
        pooling: str = "last",
    ):
        self.layers = layers
        self.hidden = layers[0][0].w_hh_t.shape[0]
        self.input_layer = input_layer
        self.pooling = pooling

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, _F32)
        observed = np.abs(x).max(axis=-1) > 0 if x.shape[1] else np.zeros(x.shape[:2], bool)
        if self.input_layer is not None:
            wt, b = self.input_layer
            x = np.maximum(x @ wt + b, _F32(0))
        B, T, _ = x.shape
        H = self.hidden
        if T == 0:
            raise ValueError("NumpyEncoder: sequences need at least one step")
        for fwd, bwd in self.layers[:-1]:
            x = np.concatenate([_run(fwd, x, False), _run(bwd, x, True)], axis=-1)
        fwd, bwd = self.layers[-1]
        out_fwd = _run(fwd, x, False)
        if self.pooling == "last":
            # the backward direction's output at the last step is its first step: one cell from zero state
            h_bwd, _ = _cell(x[:, -1] @ bwd.w_ih_t + bwd.bias, np.zeros((B, H), _F32), H)
            return pool_outputs(out_fwd, None, observed, "last", bwd_last=h_bwd)
        return pool_outputs(out_fwd, _run(bwd, x, True), observed, self.pooling)


# -- network ----------------------------------------------------------------------------------------
@dataclass
class NumpyNetOutput:
    logits: np.ndarray  # (B, K) fused, before the sigmoid
    scores: np.ndarray  # (B, 3, K) raw per-modality scores s_m (text, acoustic, visual)
    contributions: np.ndarray  # (B, 3, K) w_eff * s_m, summing to logits


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of ``EmotionEmbeddingNet(config)`` with its shape."""
    c = config
    shapes: dict[str, tuple[int, ...]] = {}
    for m in MODALITIES:
        H = int(c.hidden[m])
        W = c.input_layer(m)
        if W:
            shapes[f"encoders.{m}.input.weight"] = (W, int(c.input_dims[m]))
            shapes[f"encoders.{m}.input.bias"] = (W,)
        for k in range(int(c.num_layers)):
            D = (W or int(c.input_dims[m])) if k == 0 else 2 * H
            for sfx in ("", "_reverse"):
                p = f"encoders.{m}.lstm."
                shapes[f"{p}weight_ih_l{k}{sfx}"] = (4 * H, D)
                shapes[f"{p}weight_hh_l{k}{sfx}"] = (4 * H, H)
                shapes[f"{p}bias_ih_l{k}{sfx}"] = (4 * H,)
                shapes[f"{p}bias_hh_l{k}{sfx}"] = (4 * H,)
    for name, m in (("map_t2a", "acoustic"), ("map_t2v", "visual")):
        shapes[f"{name}.weight"] = (int(c.hidden[m]), int(c.emb_dim))
        shapes[f"{name}.bias"] = (int(c.hidden[m]),)
    shapes["fusion_raw"] = (len(MODALITIES),)
    for m, k in c.anchor_counts().items():
        shapes[f"zsl_anchors_{m}"] = (k, int(c.emb_dim))
    if c.anchor_counts():
        shapes["zsl_metric"] = (int(c.emb_dim), int(c.emb_dim))
    if c.affect_axes():
        shapes["zsl_axes"] = (c.affect_axes(), int(c.emb_dim))
    return shapes


class NumpyEmotionNet:
    """``EmotionEmbeddingNet`` (eval mode) in numpy. Build it with :meth:`from_state_dict`."""

    def __init__(
        self,
        config: ModelConfig,
        encoders: dict[str, NumpyEncoder],
        maps: dict[str, tuple[np.ndarray, np.ndarray]],
        fusion_raw: np.ndarray,
        zero_shot: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
        zero_shot_axes: np.ndarray | None = None,
    ):
        self.config = config
        self.zero_shot = zero_shot  # (anchors per modality, metric) for composition; None: plain maps
        self.zero_shot_axes = zero_shot_axes  # (A, d_t) affect axes of rule 'affect'; None otherwise
        self.encoders = encoders
        self.maps = maps  # modality -> (W^T (d_t, H), b (H,)) for acoustic and visual
        self.fusion_raw = np.asarray(fusion_raw, _F32)
        self.fusion_weights = softplus(self.fusion_raw)  # (3,) positive

    @classmethod
    def from_state_dict(cls, config: ModelConfig, state_dict: Mapping[str, Any]) -> NumpyEmotionNet:
        """Weights by the network's key names; values are cast to float32.

        Raises ValueError (one line) naming the first missing, unexpected or misshapen key.
        """
        shapes = expected_shapes(config)
        missing = [k for k in shapes if k not in state_dict]
        unexpected = [k for k in state_dict if k not in shapes]
        if missing or unexpected:
            what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
            raise ValueError(
                f"weights do not fit the config ({what}; {len(missing)} missing, {len(unexpected)} unexpected)"
            )
        sd: dict[str, np.ndarray] = {}
        for k, shape in shapes.items():
            a = np.asarray(state_dict[k]).astype(_F32)
            if a.shape != shape:
                raise ValueError(f"weights do not fit the config ({k} is {tuple(a.shape)}, expected {shape})")
            sd[k] = a

        def direction(m: str, k: int, sfx: str) -> _Direction:
            p = f"encoders.{m}.lstm."
            return _Direction(
                w_ih_t=np.ascontiguousarray(sd[f"{p}weight_ih_l{k}{sfx}"].T),
                w_hh_t=np.ascontiguousarray(sd[f"{p}weight_hh_l{k}{sfx}"].T),
                bias=sd[f"{p}bias_ih_l{k}{sfx}"] + sd[f"{p}bias_hh_l{k}{sfx}"],
            )

        def input_layer(m: str) -> tuple[np.ndarray, np.ndarray] | None:
            if not config.input_layer(m):
                return None
            return np.ascontiguousarray(sd[f"encoders.{m}.input.weight"].T), sd[f"encoders.{m}.input.bias"]

        encoders = {
            m: NumpyEncoder(
                [(direction(m, k, ""), direction(m, k, "_reverse")) for k in range(int(config.num_layers))],
                input_layer(m),
                config.pooling,
            )
            for m in MODALITIES
        }
        maps = {
            m: (np.ascontiguousarray(sd[f"{name}.weight"].T), sd[f"{name}.bias"])
            for name, m in (("map_t2a", "acoustic"), ("map_t2v", "visual"))
        }
        zsl = None
        if config.anchor_counts():
            zsl = ({m: sd[f"zsl_anchors_{m}"] for m in config.anchor_counts()}, sd["zsl_metric"])
        return cls(config, encoders, maps, sd["fusion_raw"], zsl, sd.get("zsl_axes"))

    def emotion_embeddings(self, E_t: np.ndarray) -> dict[str, np.ndarray]:
        """E_t (K, d_t) word vectors -> the emotion embeddings of every modality."""
        E_t = np.asarray(E_t, _F32)
        out = {"text": self._mapped_input(E_t, "text")}
        for m, (wt, b) in self.maps.items():
            out[m] = self._mapped_input(E_t, m) @ wt + b
        return out

    def _mapped_input(self, E_t: np.ndarray, m: str) -> np.ndarray:
        if self.zero_shot is None or m not in self.zero_shot[0] or not np.abs(self.zero_shot[0][m]).sum() > 0:
            return E_t
        return compose_by_rule(E_t, self.zero_shot[0][m], self.config.zero_shot, self.zero_shot[1], self.zero_shot_axes)

    def encode(self, text: np.ndarray, acoustic: np.ndarray, visual: np.ndarray) -> dict[str, np.ndarray]:
        xs = {"text": text, "acoustic": acoustic, "visual": visual}
        return {m: self.encoders[m](xs[m]) for m in MODALITIES}

    def forward(
        self,
        text: np.ndarray,
        acoustic: np.ndarray,
        visual: np.ndarray,
        emotion_vectors: np.ndarray,
        modality_mask: np.ndarray | None = None,
    ) -> NumpyNetOutput:
        """Score a (B, T, d_m) batch against any (K, d_t) emotion matrix; mask is (B, 3) bool, None = all present."""
        return self.forward_embeddings(text, acoustic, visual, self.emotion_embeddings(emotion_vectors), modality_mask)

    def forward_embeddings(
        self,
        text: np.ndarray,
        acoustic: np.ndarray,
        visual: np.ndarray,
        embs: Mapping[str, np.ndarray],
        modality_mask: np.ndarray | None = None,
    ) -> NumpyNetOutput:
        """As :meth:`forward`, with the emotion embeddings of every modality given ((K, d_m) each).

        This is how adapted emotions are scored: their rows are learned embeddings
        instead of ``f_t->m`` of a word vector (:mod:`model.adapt`).
        """
        B = np.shape(text)[0]
        mask = np.ones((B, len(MODALITIES)), bool) if modality_mask is None else np.asarray(modality_mask, bool)
        reps = self.encode(text, acoustic, visual)
        scores = np.stack([modality_scores(reps[m], embs[m]) for m in MODALITIES], axis=1).astype(_F32)
        logits, contrib = fuse(scores, self.fusion_weights, mask)
        return NumpyNetOutput(logits=logits, scores=scores, contributions=contrib)

    __call__ = forward
