"""Per-user baseline (calibration): a person's neutral face and voice, moved onto the population's.

OpenFace normalises action units per person by subtracting the person's own
neutral level. Here a few seconds of the user's neutral windows give the mean of
each acoustic and visual feature over observed steps; the shift from that to
the reference mean (the checkpoint's replay windows of ``neutral`` when it
carries them, else the training mean of its normalisation statistics) is taken
off every observed step before the model sees it. Text is never shifted: words
are not a person's baseline.

Pure numpy: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

CALIBRATED = ("acoustic", "visual")
MIN_STEPS = 10  # observed steps a modality needs before its baseline counts


def observed_mean(x: np.ndarray, step_mask: np.ndarray | None, min_steps: int = MIN_STEPS) -> np.ndarray | None:
    """Mean over observed steps of (N, T, d) features (non-finite values count as 0); None with too few steps."""
    x = np.nan_to_num(np.asarray(x, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    flat = x.reshape(-1, x.shape[-1])
    if step_mask is not None:
        flat = flat[np.asarray(step_mask, bool).reshape(-1)]
    if flat.shape[0] < min_steps:
        return None
    return flat.mean(axis=0)


def baseline_shift(
    user: Mapping[str, np.ndarray], user_masks: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per calibrated modality: user mean - reference mean (d,). Modalities the user lacks are left out."""
    out = {}
    for m in CALIBRATED:
        if m not in user or m not in reference:
            continue
        mu = observed_mean(user[m], user_masks.get(m))
        if mu is not None:
            out[m] = (mu - np.asarray(reference[m], np.float64)).astype(np.float32)
    return out


def reference_means(checkpoint, replay=None) -> dict[str, np.ndarray]:
    """The population level a baseline is moved to: replay windows labelled ``neutral`` when the
    checkpoint carries them, else its training means."""
    ref = {
        m: np.asarray(checkpoint.normalization[m].mean, np.float64) for m in CALIBRATED if m in checkpoint.normalization
    }
    from .adapt import replay_labels

    lw = replay_labels(checkpoint) if replay is not None else None
    if lw is not None:
        labels, words = lw
        if "neutral" in words:
            sel = labels[:, words.index("neutral")] > 0.5
            for m in CALIBRATED:
                mu = observed_mean(getattr(replay, m)[sel], replay.step_masks[m][sel])
                if mu is not None:
                    ref[m] = mu
    return ref


def apply_shift(x: np.ndarray, shift: np.ndarray | None, step_mask: np.ndarray | None) -> np.ndarray:
    """(..., T, d) raw features with ``shift`` taken off the observed steps (unobserved ones untouched)."""
    if shift is None:
        return x
    s = np.asarray(shift, np.float32)
    if step_mask is None:
        return (np.asarray(x, np.float32) - s).astype(np.float32)
    return (np.asarray(x, np.float32) - s * np.asarray(step_mask, bool)[..., None]).astype(np.float32)
