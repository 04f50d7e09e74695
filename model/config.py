"""Model configuration: all sizes come from here, not from constants in the network."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODALITIES = ("text", "acoustic", "visual")


@dataclass
class ModelConfig:
    """Sizes of the three encoders and the emotion-embedding space.

    The paper's defaults (Table 3): text hidden = GloVe dimension, acoustic 200,
    visual 100, 2 layers, dropout 0.15. The text hidden size must equal the
    word-vector dimension because s_t = E_t r_t is a dot product in that space.
    """

    input_dims: dict[str, int] = field(default_factory=lambda: {"text": 50, "acoustic": 74, "visual": 35})
    hidden: dict[str, int] = field(default_factory=lambda: {"text": 50, "acoustic": 200, "visual": 100})
    emb_dim: int = 50
    num_layers: int = 2
    dropout: float = 0.15

    def __post_init__(self) -> None:
        for m in MODALITIES:
            if m not in self.input_dims or m not in self.hidden:
                raise ValueError(f"ModelConfig needs input_dims and hidden for '{m}'")
            if int(self.input_dims[m]) <= 0 or int(self.hidden[m]) <= 0:
                raise ValueError(f"ModelConfig: sizes for '{m}' must be positive")
        if int(self.hidden["text"]) != int(self.emb_dim):
            raise ValueError(
                f"ModelConfig: text hidden size ({self.hidden['text']}) must equal the emotion-embedding "
                f"dimension ({self.emb_dim}), since text scores are E_t r_t"
            )

    @classmethod
    def paper(cls, emb_dim: int = 50, acoustic_dim: int = 74, visual_dim: int = 35) -> "ModelConfig":
        return cls(
            input_dims={"text": emb_dim, "acoustic": acoustic_dim, "visual": visual_dim},
            hidden={"text": emb_dim, "acoustic": 200, "visual": 100},
            emb_dim=emb_dim,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return cls(
            input_dims={k: int(v) for k, v in d["input_dims"].items()},
            hidden={k: int(v) for k, v in d["hidden"].items()},
            emb_dim=int(d["emb_dim"]),
            num_layers=int(d.get("num_layers", 2)),
            dropout=float(d.get("dropout", 0.15)),
        )
