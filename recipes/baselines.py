"""The paper's Early-Fusion LSTM baseline (EF-LSTM, §5.4), for comparisons on the same data.

Per step the three modalities' features are concatenated (an absent modality
contributes zeros), one bi-LSTM reads the sequence and a linear layer gives one
logit per emotion *label*. Emotions are output units, not word vectors: an
emotion the baseline was not trained on has an untrained output row, so it has
no zero-shot ability (the paper's zero-shot baselines are near chance). That is
the contrast that shows what the emotion embeddings add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from model.config import MODALITIES
from model.datasets import EmotionDataset
from model.network import pool_outputs


@dataclass(frozen=True)
class EFLSTMConfig:
    input_dims: tuple[int, int, int] = (50, 74, 35)  # text, acoustic, visual
    hidden: int = 128
    num_layers: int = 2
    dropout: float = 0.15
    num_labels: int = 6
    pooling: str = "last"  # as the main model's (model.config.POOLINGS)

    def to_dict(self) -> dict:
        return asdict(self)


class EarlyFusionLSTM(nn.Module):
    """Concatenate (text, acoustic, visual) per step -> bi-LSTM (directions summed) -> pooled -> K logits."""

    def __init__(self, config: EFLSTMConfig):
        super().__init__()
        self.config = c = config
        self.lstm = nn.LSTM(
            sum(c.input_dims),
            c.hidden,
            num_layers=c.num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.num_labels)

    def forward(
        self,
        text: torch.Tensor,
        acoustic: torch.Tensor,
        visual: torch.Tensor,
        modality_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T, d_m) per modality (an absent modality may be (B, 1, d) zeros) -> (B, K) logits.

        ``modality_mask`` (B, 3) zeroes the features of masked modalities, as if absent.
        """
        B = text.shape[0]
        T = max(x.shape[1] for x in (text, acoustic, visual))  # an absent modality is a 1-step placeholder
        xs = []
        for j, x in enumerate((text, acoustic, visual)):
            if x.shape[1] != T:
                x = x.new_zeros((B, T, x.shape[2]))
            if modality_mask is not None:
                x = x * modality_mask[:, j].to(x.dtype)[:, None, None]
            xs.append(x)
        x = torch.cat(xs, dim=-1)
        out, _ = self.lstm(x)
        r = pool_outputs(out, x.abs().amax(dim=-1) > 0, self.config.hidden, self.config.pooling)
        return self.out(self.drop(r))


@torch.no_grad()
def predict_ef(
    net: EarlyFusionLSTM,
    ds: EmotionDataset,
    label_index: Sequence[int],
    modalities: Sequence[str] = MODALITIES,
    batch_size: int = 1024,
) -> np.ndarray:
    """(N, len(label_index)) probabilities on a *normalised* dataset with only ``modalities`` kept.

    Rows with none of the kept modalities present are NaN (no prediction).
    """
    net.eval()
    keep = np.array([m in modalities for m in MODALITIES], bool)
    mask_all = ds.modality_mask & keep[None, :]
    out = []
    for i in range(0, len(ds), batch_size):
        sl = slice(i, i + batch_size)
        mask = torch.from_numpy(np.ascontiguousarray(mask_all[sl]))
        logits = net(
            torch.from_numpy(np.ascontiguousarray(ds.text[sl], np.float32)),
            torch.from_numpy(np.ascontiguousarray(ds.acoustic[sl], np.float32)),
            torch.from_numpy(np.ascontiguousarray(ds.visual[sl], np.float32)),
            mask,
        )
        p = torch.sigmoid(logits[:, list(label_index)]).numpy().astype(np.float64)
        p[~mask_all[sl].any(axis=1)] = np.nan
        out.append(p)
    return np.concatenate(out) if out else np.zeros((0, len(label_index)))
