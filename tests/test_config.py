"""ModelConfig: paper defaults, validation and dict round-trip."""

from __future__ import annotations

import json

import pytest

from model.config import MODALITIES, ModelConfig


def test_defaults_follow_paper_table3_with_glove50():
    c = ModelConfig()
    assert c.hidden == {"text": 50, "acoustic": 200, "visual": 100}
    assert c.input_dims == {"text": 50, "acoustic": 74, "visual": 35}
    assert (c.emb_dim, c.num_layers, c.dropout) == (50, 2, 0.15)


def test_paper_config_ties_text_sizes_to_the_word_vectors():
    c = ModelConfig.paper(emb_dim=300)
    assert c.hidden == {"text": 300, "acoustic": 200, "visual": 100}  # Table 3: 300/200/100
    assert c.input_dims["text"] == 300 and c.emb_dim == 300
    assert ModelConfig.paper(acoustic_dim=80, visual_dim=20).input_dims == {"text": 50, "acoustic": 80, "visual": 20}


def test_dict_round_trip_is_exact_and_json_serialisable():
    c = ModelConfig(
        input_dims={"text": 50, "acoustic": 74, "visual": 35},
        hidden={"text": 50, "acoustic": 32, "visual": 16},
        emb_dim=50,
        num_layers=1,
        dropout=0.0,
    )
    d = json.loads(json.dumps(c.to_dict()))
    assert ModelConfig.from_dict(d) == c


def test_from_dict_coerces_types_and_fills_optional_fields():
    d = {
        "input_dims": {"text": "50", "acoustic": 74.0, "visual": 35},
        "hidden": {"text": 50, "acoustic": "8", "visual": 4},
        "emb_dim": "50",
    }
    c = ModelConfig.from_dict(d)
    assert c.hidden["acoustic"] == 8 and isinstance(c.hidden["acoustic"], int)
    assert c.input_dims["text"] == 50 and isinstance(c.emb_dim, int)
    assert (c.num_layers, c.dropout) == (2, 0.15)


def test_text_hidden_must_equal_embedding_dim():
    with pytest.raises(ValueError, match=r"text hidden size \(64\).*\(50\)"):
        ModelConfig(hidden={"text": 64, "acoustic": 200, "visual": 100}, emb_dim=50)


@pytest.mark.parametrize("missing", MODALITIES)
def test_every_modality_needs_sizes(missing):
    dims = {m: 10 for m in MODALITIES if m != missing}
    hidden = {"text": 50, "acoustic": 8, "visual": 8}
    with pytest.raises(ValueError, match=missing):
        ModelConfig(input_dims=dims, hidden=hidden)


@pytest.mark.parametrize("bad", [0, -3])
def test_sizes_must_be_positive(bad):
    with pytest.raises(ValueError, match="acoustic.*positive"):
        ModelConfig(input_dims={"text": 50, "acoustic": bad, "visual": 35})


def test_input_layers_round_trip_default_to_none_and_are_checked():
    c = ModelConfig(input_layers={"visual": 64})
    assert ModelConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert (c.input_layer("visual"), c.input_layer("acoustic")) == (64, 0)
    old = ModelConfig().to_dict()
    old.pop("input_layers")  # a checkpoint written before input layers existed (SDK, v1, v2)
    assert ModelConfig.from_dict(old).input_layers == {}
    with pytest.raises(ValueError, match="unknown modality"):
        ModelConfig(input_layers={"face": 8})
    with pytest.raises(ValueError, match="positive"):
        ModelConfig(input_layers={"visual": 0})
