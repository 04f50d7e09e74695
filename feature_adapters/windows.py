"""What the model consumes: word-aligned steps grouped into fixed-length windows.

A *step* is a word (as in the CMU SDK word-level alignment) or, during long
silences, a fixed-length pseudo-step with no text. A *window* is the last N
steps, padded in front, as the paper's data were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Step:
    start: float
    end: float
    word: str | None
    text: np.ndarray  # (d_t,) float32; zeros when no word / OOV
    acoustic: np.ndarray  # (d_a,)
    visual: np.ndarray  # (d_v,)
    has_text: bool = True
    has_acoustic: bool = True
    has_visual: bool = True
    oov: bool = False


@dataclass
class Window:
    """A fixed-length window of T steps; arrays are float32, padding is in front.

    ``step_mask[i]`` is False for padding. ``text_mask``/``acoustic_mask``/
    ``visual_mask`` say per step whether that modality was observed.
    ``modality_mask`` is the per-window (text, acoustic, visual) presence the
    model fuses over: a modality with no observed step is absent.
    """

    text: np.ndarray  # (T, d_t)
    acoustic: np.ndarray  # (T, d_a)
    visual: np.ndarray  # (T, d_v)
    starts: np.ndarray  # (T,) seconds, NaN for padding
    ends: np.ndarray  # (T,)
    step_mask: np.ndarray  # (T,) bool
    text_mask: np.ndarray  # (T,) bool
    acoustic_mask: np.ndarray  # (T,) bool
    visual_mask: np.ndarray  # (T,) bool
    words: list[str | None] = field(default_factory=list)

    @property
    def length(self) -> int:
        return int(self.text.shape[0])

    @property
    def modality_mask(self) -> np.ndarray:
        return np.array([self.text_mask.any(), self.acoustic_mask.any(), self.visual_mask.any()], dtype=bool)

    @property
    def span(self) -> tuple[float, float]:
        real = self.step_mask
        if not real.any():
            return (float("nan"), float("nan"))
        return (float(np.nanmin(self.starts[real])), float(np.nanmax(self.ends[real])))
