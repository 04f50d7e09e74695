"""emotions --plot: the rows drawn are the display set, neutral, and the user's emotions (adapted rows for adapted ones)."""

from __future__ import annotations

import numpy as np

from feature_adapters.embeddings import get_provider
from livemer.registry import Registry
from livemer.space_plot import plot_emotion_space, space_rows
from model.adapt import checkpoint_fingerprint
from model.checkpoint import Checkpoint


def test_rows_and_png(tiny_checkpoint, tmp_path):
    ck = Checkpoint.load(tiny_checkpoint)
    reg = Registry(tmp_path / "emotions.json")
    reg.add("bored", "bored", ck.embedding_space, get_provider().vector("bored"))
    rows = {"acoustic": [1.0] * ck.config.hidden["acoustic"], "visual": [2.0] * ck.config.hidden["visual"]}
    reg.add(
        "calm",
        "calm",
        ck.embedding_space,
        get_provider().vector("calm"),
        adaptation={"checkpoint": checkpoint_fingerprint(ck), "embeddings": rows},
    )
    names, embs, users, adapted = space_rows(ck, reg)
    assert names[:6] == ck.display_emotions and names[-2:] == ["bored", "calm"]
    assert users == {"bored", "calm"} and adapted == {"calm"}
    assert np.allclose(embs["visual"][names.index("calm")], 2.0)
    out = plot_emotion_space(ck, reg, tmp_path / "space.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
