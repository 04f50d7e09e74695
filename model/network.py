"""The paper's network (§3): three bi-LSTM encoders, emotion embeddings mapped
from the text space into the acoustic and visual spaces, dot-product scores and
a learned, mask-aware weighted fusion. The emotion set is an input, not weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import MODALITIES, ModelConfig
from .fusion import fuse, modality_scores
from .zeroshot import compose_by_rule


def pool_outputs(out: torch.Tensor, observed: torch.Tensor, hidden: int, pooling: str) -> torch.Tensor:
    """(B, T, 2H) bi-LSTM outputs and (B, T) observed steps -> (B, H) representation (config.POOLINGS).

    A sequence with no observed step pools as if every step were observed ("ends": the first step).
    """
    fwd, bwd = out[..., :hidden], out[..., hidden:]
    if pooling == "last":
        return fwd[:, -1] + bwd[:, -1]
    if pooling == "ends":
        first = observed.to(torch.int64).argmax(dim=1)  # the first observed step (0 when none)
        return fwd[:, -1] + bwd[torch.arange(out.shape[0], device=out.device), first]
    if pooling == "mean":
        w = observed.to(out.dtype)
        w = torch.where(w.sum(dim=1, keepdim=True) > 0, w, torch.ones_like(w))
        return ((fwd + bwd) * w[..., None]).sum(dim=1) / w.sum(dim=1, keepdim=True)
    raise ValueError(f"unknown pooling {pooling!r}")


class SequenceEncoder(nn.Module):
    """A bi-LSTM whose two directions are summed, pooled over the steps by ``pooling`` (config.POOLINGS).

    Padding steps (in front) are exactly zero after normalisation, so a step is observed when any of its
    features is non-zero. ``input_layer`` > 0 puts a per-step Linear + ReLU of that width in front of the
    LSTM (a nonlinear reading of the frame's features); 0 is the paper's encoder.
    """

    def __init__(
        self, input_dim: int, hidden: int, num_layers: int, dropout: float, input_layer: int = 0, pooling: str = "last"
    ):
        super().__init__()
        self.hidden = hidden
        self.pooling = pooling
        self.input = nn.Linear(input_dim, input_layer) if input_layer > 0 else None
        self.lstm = nn.LSTM(
            input_layer if input_layer > 0 else input_dim,
            hidden,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        observed = x.abs().amax(dim=-1) > 0
        if self.input is not None:
            x = F.relu(self.input(x))
        out, _ = self.lstm(x)  # (B, T, 2H)
        return pool_outputs(out, observed, self.hidden, self.pooling)


@dataclass
class NetOutput:
    logits: torch.Tensor  # (B, K) fused, before the sigmoid
    scores: torch.Tensor  # (B, 3, K) raw per-modality scores s_m (text, acoustic, visual)
    contributions: torch.Tensor  # (B, 3, K) w_eff * s_m, summing to logits


class EmotionEmbeddingNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoders = nn.ModuleDict(
            {
                m: SequenceEncoder(c.input_dims[m], c.hidden[m], c.num_layers, c.dropout, c.input_layer(m), c.pooling)
                for m in MODALITIES
            }
        )
        self.map_t2a = nn.Linear(c.emb_dim, c.hidden["acoustic"])  # f_{t->a}
        self.map_t2v = nn.Linear(c.emb_dim, c.hidden["visual"])  # f_{t->v}
        # positive fusion weights w = softplus(raw); raw initialised so that w = 1
        self.fusion_raw = nn.Parameter(torch.full((len(MODALITIES),), 0.5413248546129181))
        # zero-shot composition (model.zeroshot): the anchors' word vectors and the similarity metric
        for m, k in c.anchor_counts().items():
            self.register_buffer(f"zsl_anchors_{m}", torch.zeros(k, c.emb_dim))
        if c.anchor_counts():
            self.register_buffer("zsl_metric", torch.eye(c.emb_dim))
        if c.affect_axes():
            self.register_buffer("zsl_axes", torch.zeros(c.affect_axes(), c.emb_dim))

    def set_zero_shot(self, anchors: dict[str, np.ndarray], metric: np.ndarray, axes: np.ndarray | None = None) -> None:
        """Fill the composition buffers: per modality the (K_m, d_t) word vectors of its trained emotions,
        the metric, and (rule 'affect') the (A, d_t) affect axes."""
        counts = self.config.anchor_counts()
        if set(anchors) != set(counts):
            raise ValueError(f"zero-shot anchors for {sorted(anchors)}, the config has {sorted(counts)}")
        if (axes is None) != (not self.config.affect_axes()):
            raise ValueError(f"zero-shot axes given: {axes is not None}; the config holds {self.config.affect_axes()}")
        for m, A in anchors.items():
            getattr(self, f"zsl_anchors_{m}").copy_(torch.as_tensor(np.asarray(A, np.float32)))
        self.zsl_metric.copy_(torch.as_tensor(np.asarray(metric, np.float32)))
        if axes is not None:
            self.zsl_axes.copy_(torch.as_tensor(np.asarray(axes, np.float32)))

    def _mapped_input(self, E_t: torch.Tensor, m: str) -> torch.Tensor:
        """The vectors f_t->m maps: E_t, or with composition each new word composed from m's anchors."""
        A = getattr(self, f"zsl_anchors_{m}", None)
        if A is None or not bool(A.abs().sum() > 0):  # no composition, or anchors not set yet (training)
            return E_t
        axes = getattr(self, "zsl_axes", None)
        out = compose_by_rule(
            E_t.detach().cpu().numpy(),
            A.cpu().numpy(),
            self.config.zero_shot,
            self.zsl_metric.cpu().numpy(),
            None if axes is None else axes.cpu().numpy(),
        )
        return torch.from_numpy(out).to(E_t)

    @property
    def fusion_weights(self) -> torch.Tensor:
        return F.softplus(self.fusion_raw)

    def emotion_embeddings(self, E_t: torch.Tensor) -> dict[str, torch.Tensor]:
        """E_t (K, d_t), frozen word vectors -> the emotion embeddings of every modality."""
        return {
            "text": self._mapped_input(E_t, "text"),
            "acoustic": self.map_t2a(self._mapped_input(E_t, "acoustic")),
            "visual": self.map_t2v(self._mapped_input(E_t, "visual")),
        }

    def encode(self, text: torch.Tensor, acoustic: torch.Tensor, visual: torch.Tensor) -> dict[str, torch.Tensor]:
        xs = {"text": text, "acoustic": acoustic, "visual": visual}
        return {m: self.encoders[m](xs[m]) for m in MODALITIES}

    def forward(
        self,
        text: torch.Tensor,
        acoustic: torch.Tensor,
        visual: torch.Tensor,
        emotion_vectors: torch.Tensor,
        modality_mask: torch.Tensor | None = None,
    ) -> NetOutput:
        """Score a batch against any (K, d_t) emotion matrix.

        ``modality_mask`` is (B, 3) bool for (text, acoustic, visual); None means all present.
        """
        B = text.shape[0]
        if modality_mask is None:
            modality_mask = torch.ones(B, len(MODALITIES), dtype=torch.bool, device=text.device)
        E_t = emotion_vectors.to(text.dtype).detach()  # frozen: no gradient into the word vectors
        embs = self.emotion_embeddings(E_t)
        reps = self.encode(text, acoustic, visual)
        scores = torch.stack([modality_scores(reps[m], embs[m]) for m in MODALITIES], dim=1)
        logits, contrib = fuse(scores, self.fusion_weights, modality_mask)
        return NetOutput(logits=logits, scores=scores, contributions=contrib)
