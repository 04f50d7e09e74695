"""The model card is the template filled from a results JSON: every field filled, verdicts follow the numbers."""

from __future__ import annotations

import pytest

from recipes.model_card import SEEN, headline_values, loo_means, p, render, verdict, write_card


def _table(auc, ems=SEEN, w_acc=0.6):
    rows = {
        e: {"auc": auc, "w_acc": w_acc, "f1": 0.5, "acc": 0.8, "positives": 4, "negatives": 28, "note": ""} for e in ems
    }
    return {
        "per_emotion": rows,
        "average": {"auc": auc, "w_acc": w_acc, "f1": 0.5, "acc": 0.8, "positives": 4, "negatives": 28, "note": ""},
        "notes": [],
    }


def _results(zsl_auc=0.72, faces=0.86):
    fig = {
        "ravdess": {s: _table(0.8) for s in ("tav", "ta", "tv", "av", "t", "a", "v")},
        "speech": _table(0.83),
        "speech_by_corpus": {"nemo": _table(0.9), "urdu": _table(0.7, ("anger", "sad"))},
        "faces": _table(faces),
        "faces_by_source": {"muxspace": _table(0.8)},
        "calm": {s: _table(0.66, ("calm",)) for s in ("tav", "a", "v", "av")},
        "goemotions_dev": _table(0.86, ("anger", "love")),
        "meld_dev": _table(0.7),
    }
    head = {
        "faces_auc": faces,
        "faces_min_auc": faces,
        "voices_auc": 0.83,
        "ravdess_tav_auc": 0.8,
        "ravdess_av_auc": 0.8,
        "ravdess_a_auc": 0.8,
        "ravdess_v_auc": 0.8,
        "ravdess_tav_wacc": 0.6,
        "calm_tav_auc": 0.66,
        "calm_a_auc": 0.6,
        "calm_v_auc": 0.6,
        "goemotions_auc": 0.86,
        "meld_auc": 0.7,
        "meld_wacc": 0.6,
    }
    loo_row = {
        k: _table(zsl_auc, ("x",))
        for k in (
            "voices_a",
            "faces_v",
            "goemotions_t",
            "meld_t",
            "ravdess_a",
            "ravdess_v",
            "ravdess_av",
            "ravdess_tav",
        )
    }
    loo_row["composition"] = {"acoustic": {"anger": 0.5, "sad": 0.3, "fear": 0.2}, "visual": {"fear": 1.0}}
    settings = {
        "valid_actors": [17, 18, 19, 20],
        "train_actors": None,
        "holdout": 0.2,
        "hidden_acoustic": 96,
        "hidden_visual": 48,
        "zsl_beta": 5.0,
        "metric_samples": 4000,
        "ef_hidden": 96,
        "threads": 1,
        "protocol_epochs": 4,
        "protocol_hidden_acoustic": 64,
        "protocol_hidden_visual": 32,
        "protocol_per_epoch_scale": 0.5,
    }
    return {
        "settings": settings,
        "main": {
            "figures": fig,
            "headline": head,
            "seed": 0,
            "epochs": 8,
            "train_seconds": 900.0,
            "data_seconds": 60.0,
            "data_sizes": {"faces_train": 6000},
            "anchors": {"acoustic": list(SEEN)},
            "extraction": [{"summary": "faces: 10 files, 9 ok, 1 no face"}],
        },
        "provenance": {"date": "today", "git_commit": "abc"},
        "parameters": 1000,
        "loco": {"rows": {"nemo": _table(0.7), "ravdess": _table(0.8)}, "stage_seconds": 120},
        "loso": {"rows": {"muxspace": _table(0.7)}},
        "loo": {"rows": {"anger": loo_row, "sad": loo_row}, "stage_seconds": 600},
        "baseline": {
            "ravdess": fig["ravdess"],
            "speech": _table(0.8),
            "faces": _table(0.8),
            "goemotions_dev": _table(0.84),
            "meld_dev": _table(0.7),
            "parameters": 10,
            "train_seconds": 60,
        },
        "spread": {
            "per_seed": {"0": head, "1": head},
            "summary": {k: {"mean": v, "std": 0.0} for k, v in head.items()},
        },
        "calm_composition": {"acoustic": {"neutral": 0.6, "sad": 0.4}},
        "added_words": {"bored": {"acoustic": {"sad": 0.7}, "visual": {"neutral": 0.9}}},
    }


def test_every_field_is_filled_and_verdicts_follow_the_numbers(tmp_path):
    ck = tmp_path / "x.ckpt"
    ck.write_bytes(b"0" * 2_500_000)
    text = render(_results(), ck, "python -m recipes.recipe_default --out X")
    assert "$" not in text
    for needle in (
        "2.50 MB",
        "python -m recipes.recipe_default --out X",
        "Leave one corpus out",
        "EF-LSTM",
        "non-commercial",
        "not stated",
        "Spread over 2 seeds",
        "test on nemo",
        "*bored*",
        "neutral 0.60",
    ):
        assert needle in text, needle
    assert "faces, held-out photos, mean AUC (V) | **86.0** | >= 85.0: met" in text
    assert "voices, held-out speakers, mean AUC (A) | **83.0** | >= 85.0: **missed by 2.0 points**" in text
    assert "zero-shot calm, RAVDESS T+A+V, AUC | **66.0** | >= 70.0: **missed by 4.0 points**" in text
    assert "voices 72.0 (meets the 70.0 target)" in text
    low = render(_results(zsl_auc=0.6), ck, "cmd")
    assert "voices 60.0 (misses the 70.0 target)" in low


def test_derived_figures():
    r = _results()
    assert loo_means(r["loo"])["voices_a"] == pytest.approx(0.72)
    h = headline_values(r)
    assert h["loco_auc"] == pytest.approx(0.75) and h["zsl_tav"] == pytest.approx(0.72)
    assert verdict(0.9, 0.85).endswith("met") and "missed by 5.0" in verdict(0.8, 0.85)
    assert p(float("nan")) == "n/a" and p(None) == "n/a" and p(0.5) == "50.0"


def test_write_card_is_atomic(tmp_path):
    out = write_card(tmp_path / "d" / "CARD.md", _results(), tmp_path / "missing.ckpt", "cmd")
    assert out.read_text().startswith("# livemer default model")
    assert [x.name for x in out.parent.iterdir()] == ["CARD.md"]


def test_photo_views_replay_and_sizes_are_filled_from_the_results(tmp_path):
    r = _results()
    r["settings"]["face_borders"] = [0.0, 0.25]
    r["main"]["extraction"] = [{"summary": "faces: 10 files, 9 ok"}, {"summary": "faces: 10 files, 10 ok"}]
    r["weights_bytes"] = 1_000_000
    r["replay"] = {"windows": 112, "source": "ravdess-train", "per_emotion": 16}
    ck = tmp_path / "x.ckpt"
    ck.write_bytes(b"0" * 1_500_000)
    text = write_card(tmp_path / "CARD.md", r, ck, "cmd").read_text()
    assert "- faces: 10 files, 9 ok" in text and "- faces (border 25 %): 10 files, 10 ok" in text
    assert "each photo as it is and inside a grey border of 25 % of its size" in text
    assert "1.00 MB of fp16 weights, 1.50 MB with the few-shot replay set" in text
    assert "replay set of 112 ravdess-train windows (16 per trained emotion)" in text


def test_the_card_names_the_zero_shot_rule():
    from recipes.model_card import _zero_shot_rule

    assert "beta = 5" in _zero_shot_rule({"zsl_beta": 5.0})
    v2 = _zero_shot_rule({"zsl_method": "affect", "zsl_beta": 0.0, "zsl_beta_affect": 30.0, "zsl_ridge": 0.03})
    assert "-30 * |c(e) - c(e_k)|^2)" in v2 and "ridge 0.03" in v2 and "AFFECT_POLES" in v2 and "cos_M" not in v2
