"""The default-checkpoint recipe: emotion words, held-out calm, figures, model card, and a quick real run."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recipes import corpora
from recipes.recipe_default import (
    WORD_FORM_CANDIDATES, RecipeSettings, emotion_vectors, forms_set, headline, model_card,
    per_name_selection_score, run_recipe,
)


class Vectors:
    name = "fake"

    def vectors(self, words):
        return np.stack([np.full(3, len(w), np.float32) for w in words])


def test_forms_sets_and_name_to_word():
    assert forms_set(0)["anger"] == "angry" and forms_set(1)["anger"] == "anger"
    for n, c in WORD_FORM_CANDIDATES.items():
        assert forms_set(99)[n] == c[-1]
    vecs, words = emotion_vectors(["anger", "love"], {"anger": "angry"}, Vectors())
    assert words == {"anger": "angry", "love": "love"}
    assert vecs[:, 0].tolist() == [5.0, 4.0]  # the name's vector is its chosen word's


def test_calm_can_never_be_a_training_word():
    assert "calm" not in corpora.RAVDESS_TO_NAME
    with pytest.raises(ValueError, match="calm"):
        emotion_vectors(["anger"], {"anger": "calm"}, Vectors())
    with pytest.raises(ValueError, match="calm"):
        emotion_vectors(["relaxed"], {}, Vectors())


def _table(per, avg_auc=0.7, avg_wacc=0.6, pos=4, neg=28):
    rows = {e: {"auc": a, "w_acc": w, "f1": 0.5, "acc": 0.8, "positives": pos, "negatives": neg, "note": ""}
            for e, (a, w) in per.items()}
    return {"per_emotion": rows, "average": {"auc": avg_auc, "w_acc": avg_wacc, "f1": 0.5, "acc": 0.8,
                                             "positives": pos, "negatives": neg, "note": ""}, "notes": []}


def _figures():
    six = {e: (0.6 + 0.05 * i, 0.55) for i, e in enumerate(corpora.PAPER_SIX)}
    seen = {s: _table(six) for s in ("tav", "ta", "tv", "av", "t", "a", "v")}
    return {
        "seen": seen,
        "calm": {s: _table({"calm": (0.66, 0.6)}, 0.66, 0.6) for s in ("tav", "a", "v", "av")},
        "goemotions_dev": _table({"anger": (0.8, 0.7), "love": (0.9, 0.8)}, 0.85),
        "meld_dev": _table({"anger": (0.6, 0.55), "happy": (0.7, 0.6)}, 0.65, 0.58),
        "ravdess_valid_tav_with_neutral": _table({**six, "neutral": (0.5, 0.5)}),
    }


def test_selection_score_averages_the_corpora_that_label_a_name():
    fig = _figures()
    # anger: RAVDESS 0.6, GoEmotions 0.8, MELD 0.6
    assert per_name_selection_score(fig, "anger") == pytest.approx((0.6 + 0.8 + 0.6) / 3)
    assert per_name_selection_score(fig, "love") == pytest.approx(0.9)
    assert math.isnan(per_name_selection_score(fig, "grief"))
    h = headline(fig)
    assert h["calm_tav_auc"] == 0.66 and h["meld_wacc"] == 0.58


def test_model_card_has_every_section(tmp_path):
    fig = _figures()
    ck = tmp_path / "x.ckpt"
    ck.write_bytes(b"0" * 1234)
    results = {
        "main": {"figures": fig, "seed": 0, "epochs": 12, "train_seconds": 600.0, "data_seconds": 30.0},
        "provenance": {"emotion_word_forms": {"anger": "angry"}, "trained_emotions": ["anger", "love"]},
        "baseline": {"seen": fig["seen"], "goemotions_dev": fig["goemotions_dev"], "meld_dev": fig["meld_dev"],
                     "parameters": 10},
        "textzsl": {"held_out": ["amusement"], "unseen": _table({"amusement": (0.7, 0.6)}), "seen": _table({}),
                    "epochs": 6},
        "spread": {"per_seed": {"0": headline(fig), "1": headline(fig)}, "summary": {k: {"mean": v, "std": 0.0}
                   for k, v in headline(fig).items()}, "epochs": 12},
        "forms": {"scores": {n: {c[0]: 0.7} for n, c in WORD_FORM_CANDIDATES.items()},
                  "chosen": {n: c[0] for n, c in WORD_FORM_CANDIDATES.items()}, "runs": [{}, {}, {}]},
        "data_summary": {"ravdess_train": 2496, "ravdess_valid": 240},
        "parameters": 1000,
    }
    text = model_card(results, RecipeSettings(), ck, "python -m recipes.recipe_default --out X")
    for needle in ("non-commercial", "CC BY-NC-SA", "python -m recipes.recipe_default --out X", "Zero-shot calm",
                   "EF-LSTM", "GoEmotions dev macro AUC", "amusement", "Spread over 2 seeds", "Training time",
                   "Checkpoint size", "| anger | angry |", "only A", "T+A+V"):
        assert needle in text, needle


def test_settings_digest_tracks_settings():
    a, b = RecipeSettings(), RecipeSettings(epochs=13)
    assert a.digest("main") != b.digest("main") and a.digest("main") == RecipeSettings().digest("main")
    assert a.digest("main") != a.digest("spread")


@pytest.fixture(scope="module")
def quick_run(shared_dir, tmp_path_factory):
    """The quick recipe end to end on real data (features extracted into the test cache)."""
    out = tmp_path_factory.mktemp("recipe")
    res = run_recipe(shared_dir, out / "quick.ckpt", out / "CARD.md", RecipeSettings.quick(), work=out / "work",
                     log_fn=lambda m: None)
    return out, res


def test_quick_recipe_writes_a_live_compatible_checkpoint(quick_run):
    from feature_adapters.covarep import COVAREP74
    from feature_adapters.embeddings import get_provider
    from feature_adapters.facet import FACET35
    from model.checkpoint import Checkpoint

    out, res = quick_run
    ck = Checkpoint.load(out / "quick.ckpt")
    prov = get_provider()
    ck.check_spaces({"text": prov.space(), "acoustic": COVAREP74, "visual": FACET35})
    assert ck.display_emotions == list(corpora.PAPER_SIX)
    assert "calm" not in ck.emotion_words and not set(ck.emotion_words) & set(corpora.CALM_SYNONYMS)
    assert {"neutral", "love", "gratitude"} <= set(ck.emotion_words)  # every training label is known as a word
    forms = ck.provenance["emotion_word_forms"]
    for name in ck.emotion_words:
        np.testing.assert_allclose(ck.vector_of(name), prov.vector(forms[name]), rtol=1e-6)
    assert "non-commercial" in ck.provenance["licence"]


def test_quick_recipe_reports_every_figure(quick_run):
    out, res = quick_run
    fig = res["main"]["figures"]
    assert set(fig["seen"]) == {"tav", "ta", "tv", "av", "t", "a", "v"}
    assert set(fig["calm"]) == {"tav", "a", "v", "av"}
    assert fig["calm"]["tav"]["average"]["positives"] == 4  # one calm clip per validation actor
    assert 0.0 <= fig["goemotions_dev"]["average"]["auc"] <= 1.0
    assert set(res["forms"]["chosen"]) == set(corpora.PAPER_SIX)
    assert set(res["textzsl"]["unseen"]["per_emotion"]) == {"amusement", "curiosity", "disappointment", "gratitude", "remorse"}
    assert len(res["spread"]["per_seed"]) == 2
    card = (out / "CARD.md").read_text()
    assert "Zero-shot calm" in card and "EF-LSTM" in card
    stages = sorted(p.name.split("-")[0] for p in (out / "work").glob("*.json"))
    assert {"forms", "main", "baseline", "textzsl", "spread"} <= set(stages)
    json.loads((out / "work" / "results-latest.json").read_text())


def test_quick_recipe_rerun_reuses_stages(quick_run, shared_dir):
    out, res = quick_run
    logs = []
    again = run_recipe(shared_dir, out / "again.ckpt", None, RecipeSettings.quick(), work=out / "work",
                       log_fn=logs.append)
    assert any("reusing" in m for m in logs) and not any(m.endswith("running") for m in logs)
    assert again["main"]["headline"] == res["main"]["headline"]
    assert (out / "again.ckpt").exists()
