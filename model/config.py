"""Model configuration: all sizes come from here, not from constants in the network."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODALITIES = ("text", "acoustic", "visual")

#: Zero-shot rules (``ModelConfig.zero_shot["method"]``, :mod:`model.zeroshot`): "compose" (v1: softmax of a
#: text-metric cosine over the anchors), "affect" (v2: by affect coordinates from antonym-pole axes).
ZERO_SHOT_METHODS = ("compose", "affect")

#: How an encoder's bi-LSTM outputs become the sequence representation r_m (``ModelConfig.pooling``, the paper
#: leaves it open: "process the sequence and get a vector representation"): "last" (both directions' outputs at
#: the last step, summed: the backward direction has then read the last step only; SDK and v2.3 checkpoints),
#: "ends" (the forward output at the last step + the backward output at the first observed step: each direction
#: has read the whole sequence), "mean" (the summed outputs averaged over the observed steps).
POOLINGS = ("last", "ends", "mean")


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
    #: Zero-shot by composition (:mod:`model.zeroshot`), e.g. ``{"method": "compose", "beta": 5.0,
    #: "anchors": {"acoustic": 7, "visual": 7}}``: the network then holds the anchors' word vectors and the
    #: similarity metric as buffers. None: the paper's plain maps (SDK checkpoints). Rule v2 ``{"method":
    #: "affect", "version": 2, "beta": 0.0, "beta_affect": 30.0, "axes": 3, "ridge": None, "anchors": ...}``
    #: also holds the (axes, d) affect axes as a buffer; "text" anchors compose the text row too.
    zero_shot: dict[str, Any] | None = None
    #: Per modality, the width of a nonlinear input layer (Linear + ReLU on every step) in front of its bi-LSTM,
    #: e.g. ``{"visual": 64}``; a modality not named has none (the paper's encoder; SDK checkpoints).
    input_layers: dict[str, int] = field(default_factory=dict)
    #: Sequence pooling of every encoder (:data:`POOLINGS`); checkpoints without the field are "last".
    pooling: str = "last"

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
        if self.pooling not in POOLINGS:
            raise ValueError(f"ModelConfig: unknown pooling {self.pooling!r} (known: {', '.join(POOLINGS)})")
        bad = set(self.input_layers) - set(MODALITIES)
        if bad:
            raise ValueError(f"ModelConfig: input layer for unknown modality '{sorted(bad)[0]}'")
        if any(int(v) <= 0 for v in self.input_layers.values()):
            raise ValueError("ModelConfig: input layer widths must be positive")
        if self.zero_shot is not None:
            z = self.zero_shot
            if z.get("method") not in ZERO_SHOT_METHODS:
                raise ValueError(
                    f"ModelConfig: unknown zero-shot method {z.get('method')!r} (known: {', '.join(ZERO_SHOT_METHODS)})"
                )
            if z["method"] == "compose" and not float(z.get("beta", 0)) > 0:
                raise ValueError("ModelConfig: zero-shot beta must be positive")
            if z["method"] == "affect":
                if float(z.get("beta", 0)) < 0 or float(z.get("beta_affect", -1)) < 0:
                    raise ValueError("ModelConfig: zero-shot 'affect' needs beta >= 0 and beta_affect >= 0")
                if not int(z.get("axes", 0)) > 0:
                    raise ValueError("ModelConfig: zero-shot 'affect' needs axes > 0")
                if z.get("ridge") is not None and not float(z["ridge"]) > 0:
                    raise ValueError("ModelConfig: zero-shot ridge must be positive")
            allowed = {"acoustic", "visual"} | ({"text"} if z["method"] == "affect" else set())
            if set(z.get("anchors", {})) - allowed:
                raise ValueError(f"ModelConfig: zero-shot anchors are for {sorted(allowed)}")

    def affect_axes(self) -> int:
        """Number of affect axes the zero-shot rule holds (0: none, e.g. rule v1 'compose')."""
        return int((self.zero_shot or {}).get("axes", 0))

    def anchor_counts(self) -> dict[str, int]:
        """Number of zero-shot anchors per mapped modality ({} without composition)."""
        if not self.zero_shot:
            return {}
        return {m: int(k) for m, k in self.zero_shot.get("anchors", {}).items() if int(k) > 0}

    @classmethod
    def paper(cls, emb_dim: int = 50, acoustic_dim: int = 74, visual_dim: int = 35) -> ModelConfig:
        return cls(
            input_dims={"text": emb_dim, "acoustic": acoustic_dim, "visual": visual_dim},
            hidden={"text": emb_dim, "acoustic": 200, "visual": 100},
            emb_dim=emb_dim,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        return cls(
            input_dims={k: int(v) for k, v in d["input_dims"].items()},
            hidden={k: int(v) for k, v in d["hidden"].items()},
            emb_dim=int(d["emb_dim"]),
            num_layers=int(d.get("num_layers", 2)),
            dropout=float(d.get("dropout", 0.15)),
            zero_shot=_zero_shot_from(d.get("zero_shot")),
            input_layers={str(k): int(v) for k, v in dict(d.get("input_layers") or {}).items()},
            pooling=str(d.get("pooling", "last")),
        )

    def input_layer(self, m: str) -> int:
        """Width of modality ``m``'s input layer (0: none)."""
        return int(self.input_layers.get(m, 0))


def _zero_shot_from(z: Any) -> dict[str, Any] | None:
    if not z:
        return None
    out = {
        "method": str(z["method"]),
        "beta": float(z.get("beta", 0.0)),
        "anchors": {str(m): int(k) for m, k in dict(z.get("anchors", {})).items()},
    }
    if "version" in z:
        out["version"] = int(z["version"])
    if "beta_affect" in z:
        out["beta_affect"] = float(z["beta_affect"])
    if "axes" in z:
        out["axes"] = int(z["axes"])
    if z.get("ridge") is not None:
        out["ridge"] = float(z["ridge"])
    if "axis_names" in z:
        out["axis_names"] = [str(a) for a in z["axis_names"]]
    return out
