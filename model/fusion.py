"""Pure scoring and fusion functions (paper Eq. 3 and 4), with missing modalities.

Scores are dot products s_m = E_m r_m. The fused logit is sum_m w_m s_m over the
modalities present in each sample; the weights of the present modalities are
rescaled so they keep the total weight sum_m w_m. With all three present this is
exactly the paper's weighted sum; with one absent the others carry its share.
"""

from __future__ import annotations

import torch


def modality_scores(r: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """(B, d) representations against (K, d) emotion embeddings -> (B, K) scores."""
    return r @ E.t()


def effective_weights(w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample weights (B, M) from positive weights ``w`` (M,) and a (B, M) presence mask.

    Absent modalities get 0; present ones are rescaled so their sum equals w.sum().
    A sample with no modality present gets all-zero weights (its logits are 0).
    """
    m = mask.to(w.dtype)
    present = (w.unsqueeze(0) * m).sum(dim=1, keepdim=True)
    scale = torch.where(present > 0, w.sum() / present.clamp_min(1e-12), torch.zeros_like(present))
    return w.unsqueeze(0) * m * scale


def fuse(scores: torch.Tensor, w: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fuse (B, M, K) per-modality scores into (B, K) logits; also return the (B, M, K) contributions."""
    weff = effective_weights(w, mask).unsqueeze(-1)  # (B, M, 1)
    # where(), not a plain product: an absent modality's NaN/inf scores must not leak (NaN * 0 = NaN)
    contrib = torch.where(weff > 0, scores * weff, torch.zeros_like(scores))
    return contrib.sum(dim=1), contrib
