"""resolve_emotions: the default set (display + user-added) and explicit --emotions lists."""

from __future__ import annotations

import numpy as np
import pytest

from feature_adapters.embeddings import UnknownWordError, get_provider
from livemer.emotions_set import resolve_emotions
from livemer.errors import LivemerError
from livemer.registry import Registry
from model.checkpoint import Checkpoint

from conftest import SIX


@pytest.fixture(scope="module")
def ck(tiny_checkpoint) -> Checkpoint:
    return Checkpoint.load(tiny_checkpoint)


@pytest.fixture()
def reg(tmp_path) -> Registry:
    return Registry(tmp_path / "emotions.json")


def test_default_is_the_display_set_when_nobody_added_anything(ck, reg):
    es = resolve_emotions(ck, registry=reg)
    assert es.names == SIX and es.user_added == set() and es.vectors == {}


def test_default_is_display_plus_user_added_of_the_same_space(ck, reg):
    bored = get_provider().vector("bored")
    reg.add("bored", "bored", "glove-6B-50d", bored)
    reg.add("ennui", "ennui", "glove-840B-300d", np.zeros(300))  # other space: not usable here
    reg.add("happy", "joyful", "glove-6B-50d", get_provider().vector("joyful"))  # shadows a display name
    es = resolve_emotions(ck, registry=reg)
    assert es.names == SIX + ["bored"]
    assert es.user_added == {"bored", "happy"}
    assert np.allclose(es.vectors["bored"], bored, atol=1e-6)
    assert np.allclose(es.vectors["happy"], get_provider().vector("joyful"), atol=1e-6)
    assert set(es.vectors) == {"bored", "happy"}  # trained words use the checkpoint's own vectors


def test_default_registry_comes_from_the_config_dir(ck, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path / "cfg"))
    Registry().add("calm", "calm", "glove-6B-50d", get_provider().vector("calm"))
    assert resolve_emotions(ck).names == SIX + ["calm"]


def test_requested_list_keeps_order_and_drops_duplicates(ck, reg):
    reg.add("bored", "bored", "glove-6B-50d", get_provider().vector("bored"))
    es = resolve_emotions(ck, " sad, bored,sad ,happy", registry=reg)
    assert es.names == ["sad", "bored", "happy"]
    assert es.user_added == {"bored"} and set(es.vectors) == {"bored"}
    assert resolve_emotions(ck, ["fear"], registry=reg).names == ["fear"]


def test_unknown_requested_word_needs_add_emotion_without_a_provider(ck, reg):
    with pytest.raises(LivemerError, match="add-emotion calm"):
        resolve_emotions(ck, "happy,calm", registry=reg)


@pytest.mark.slow
def test_any_word_with_a_provider_of_the_same_space(ck, reg):
    es = resolve_emotions(ck, "happy,calm", registry=reg, provider=get_provider())
    assert es.names == ["happy", "calm"]
    assert np.array_equal(es.vectors["calm"], get_provider().vector("calm"))
    with pytest.raises(UnknownWordError) as ei:
        resolve_emotions(ck, "hapyness", registry=reg, provider=get_provider())
    assert len(ei.value.suggestions) == 5


def test_provider_of_another_space_is_not_used(ck, reg):
    class Other:
        name = "glove-840B-300d"

    with pytest.raises(LivemerError, match="calm"):
        resolve_emotions(ck, "calm", registry=reg, provider=Other())


@pytest.mark.parametrize("empty", [" , ", ","])
def test_empty_request_is_an_error(ck, reg, empty):
    with pytest.raises(LivemerError, match="empty"):
        resolve_emotions(ck, empty, registry=reg)


def test_adapted_user_emotions_come_with_their_rows_when_they_fit(ck, reg):
    from model.adapt import checkpoint_fingerprint

    v = get_provider().vector("calm")
    rows = {"acoustic": [0.5] * ck.config.hidden["acoustic"], "visual": [0.25] * ck.config.hidden["visual"]}
    reg.add(
        "calm",
        "calm",
        ck.embedding_space,
        v,
        adaptation={"checkpoint": checkpoint_fingerprint(ck), "embeddings": rows, "examples": 8},
    )
    reg.add(
        "tense",
        "tense",
        ck.embedding_space,
        get_provider().vector("tense"),
        adaptation={"checkpoint": "0000", "embeddings": rows, "examples": 3},
    )
    es = resolve_emotions(ck, registry=reg)
    assert set(es.adapted) == {"calm"} and np.allclose(es.adapted["calm"]["visual"], 0.25)
    assert len(es.notes) == 1 and "'tense' was adapted for another checkpoint" in es.notes[0]
    assert {"calm", "tense"} <= set(es.names)
