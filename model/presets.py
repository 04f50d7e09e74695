"""Training hyper-parameters, with the paper's Table 3 as presets.

Table 3 gives batch size, learning rate, LSTM layers, hidden sizes
(text/acoustic/visual = 300/200/100), dropout, gradient clip and seed. The
scheduler (ReduceLROnPlateau, factor 0.1, patience 5) is from §5.5; the
early-stopping patience (8) and epoch cap come from the authors' published
commands; best epochs were 15 (MOSEI) and 16 (IEMOCAP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

SELECT_METRICS = ("w_acc", "auc", "f1", "acc")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainHParams:
    epochs: int = 100  # upper bound; early stopping usually ends training sooner
    batch_size: int = 512
    lr: float = 1e-4
    weight_decay: float = 0.0
    optimizer: str = "adam"
    clip: float = 10.0  # max gradient norm; <= 0 disables clipping
    seed: int = 0
    early_stop: int = 8  # epochs without improvement of the validation average before stopping
    lr_factor: float = 0.1  # ReduceLROnPlateau on the validation loss
    lr_patience: int = 5
    select_metric: str = "w_acc"  # validation average used for early stopping / best epoch
    threshold: float = 0.5
    hidden_acoustic: int = 200  # text hidden = word-vector dimension (scores are E_t r_t)
    hidden_visual: int = 100
    num_layers: int = 2
    dropout: float = 0.15
    modality_dropout: float = 0.0  # per-sample probability of masking each present modality in training
    eval_batch_size: int = 1024
    # few-shot learning
    fsl_fraction: float = 0.01  # ceil(fraction * positives) of the new emotion are kept
    gem_memory: int = 512  # source samples kept in GEM's episodic memory
    gem_margin: float = 0.0  # GEM's margin (0: the exact projection)

    def __post_init__(self) -> None:
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {SELECT_METRICS}, got '{self.select_metric}'")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got '{self.optimizer}'")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("batch_size and epochs must be positive")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError("modality_dropout must be in [0, 1)")
        if not 0.0 < self.fsl_fraction <= 1.0:
            raise ValueError("fsl_fraction must be in (0, 1]")

    def with_overrides(self, **overrides: Any) -> TrainHParams:
        """A copy with the given fields changed; ``None`` values are ignored."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown hyper-parameters: {sorted(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainHParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


PRESETS: dict[str, TrainHParams] = {
    # Table 3, CMU-MOSEI column
    "mosei": TrainHParams(
        batch_size=512,
        lr=1e-4,
        num_layers=2,
        hidden_acoustic=200,
        hidden_visual=100,
        dropout=0.15,
        clip=10.0,
        seed=0,
        select_metric="w_acc",
    ),
    # Table 3, IEMOCAP column; the paper reports plain accuracy on IEMOCAP (§6.1)
    "iemocap": TrainHParams(
        batch_size=32,
        lr=1e-3,
        num_layers=2,
        hidden_acoustic=200,
        hidden_visual=100,
        dropout=0.15,
        clip=1.0,
        seed=0,
        select_metric="acc",
    ),
}


def get_preset(name: str | None) -> TrainHParams:
    """The named preset, or the defaults (= the MOSEI column) for None."""
    if name is None:
        return TrainHParams()
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})") from None
