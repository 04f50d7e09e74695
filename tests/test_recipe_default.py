"""The default-checkpoint recipe (v2): data helpers, emotion words, held-out calm, anchors, and a quick real run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.datasets import EmotionDataset
from recipes import corpora
from recipes.recipe_default import (
    SEEN,
    RecipeSettings,
    annotates,
    emotion_names,
    emotion_vectors,
    headline,
    modality_anchors,
    only_modalities,
    run_recipe,
    stages_from_args,
    where_group,
    without_emotions,
)


class Vectors:
    name = "fake"

    def vectors(self, words):
        return np.stack([np.full(3, len(w), np.float32) for w in words])


def _ds(labels, emotions, mods=(True, True, False), groups=None, T=2):
    y = np.asarray(labels, np.float32)
    n = len(y)
    rng = np.random.default_rng(0)
    return EmotionDataset(
        text=rng.normal(size=(n, T, 3)).astype(np.float32),
        acoustic=rng.normal(size=(n, T, 4)).astype(np.float32),
        visual=rng.normal(size=(n, T, 2)).astype(np.float32),
        labels=y,
        emotions=list(emotions),
        modality_mask=np.tile(np.asarray(mods, bool), (n, 1)),
        groups=groups or {},
    )


def test_name_to_word_and_calm_is_never_a_training_word():
    vecs, words = emotion_vectors(["anger", "love"], Vectors())
    assert words == {"anger": "angry", "love": "love"}
    assert vecs[:, 0].tolist() == [5.0, 4.0]  # the name's vector is its word's
    assert "calm" not in corpora.RAVDESS_TO_NAME
    with pytest.raises(ValueError, match="calm"):
        emotion_vectors(["relaxed"], Vectors())
    with pytest.raises(ValueError, match="calm"):
        emotion_names({"x": _ds([[1]], ["calm"])})


def test_emotion_names_put_the_seven_first():
    names = emotion_names({"a": _ds([[1, 0]], ["love", "anger"]), "b": _ds([[1]], ["grief"])})
    assert names == list(SEEN) + ["grief", "love"]


def test_without_emotions_drops_annotated_positives_only():
    ds = _ds([[1, 0], [0, 1], [1, 1], [0, 0]], ["anger", "sad"])
    assert len(without_emotions(ds, ["anger"])) == 2
    assert len(without_emotions(ds, ["fear"])) == 4
    ds.label_mask[:, 0] = False  # anger not annotated: nothing is a known anger positive
    assert len(without_emotions(ds, ["anger"])) == 4
    assert not annotates(ds, "anger") and annotates(ds, "sad")


def test_only_modalities_and_groups():
    ds = _ds([[1], [0], [1]], ["anger"], groups={"corpus": ["x", "y", "x"]})
    a = only_modalities(ds, "a")
    assert a.modality_mask.tolist() == [[False, True, False]] * 3
    assert len(where_group(ds, "corpus", ["x"])) == 2 and len(where_group(ds, "corpus", ["x"], keep=False)) == 1


def test_anchors_are_the_emotions_trained_in_each_modality():
    from recipes.mixing import MixSource

    names = ["anger", "sad", "love"]
    voice = _ds([[1, 0, 0], [0, 1, 0]], names, mods=(False, True, False))
    text = _ds([[0, 0, 1]], names, mods=(True, False, False))
    face = _ds([[1, 0, 0], [0, 0, 0]], names, mods=(False, False, True))
    got = modality_anchors([MixSource("v", voice), MixSource("t", text), MixSource("f", face)], names)
    assert got == {"acoustic": ["anger", "sad"], "visual": ["anger"]}


def test_balanced_speech_is_one_source_per_corpus_with_an_even_share():
    from dataclasses import replace

    from recipes.recipe_default import mixture_sources

    corpus = ["big"] * 8 + ["small"] * 2
    sp = _ds(
        [[1, 0] if i % 2 else [0, 1] for i in range(10)], ["anger", "sad"], (False, True, False), {"corpus": corpus}
    )
    s = replace(RecipeSettings(), speech_per_epoch=6)
    plain = mixture_sources({"speech": sp}, ["anger", "sad"], s, {})
    assert [(m.name, m.per_epoch) for m in plain] == [("speech", 6)]
    even = mixture_sources({"speech": sp}, ["anger", "sad"], replace(s, speech_balance=True), {})
    assert [(m.name, m.per_epoch, len(m.data)) for m in even] == [("speech:big", 3, 8), ("speech:small", 3, 2)]


def test_acoustic_norm_names_its_columns_and_reaches_the_statistics():
    from feature_adapters.covarep import COVAREP74
    from recipes.recipe_default import acoustic_window, fit_normalization_over

    assert acoustic_window("") == ("", None) and acoustic_window("meanstd") == ("meanstd", None)
    mode, cols = acoustic_window("mean:mcep")
    assert mode == "mean" and [COVAREP74.columns[c] for c in cols] == [f"MCEP_{i}" for i in range(1, 25)]
    with pytest.raises(ValueError, match="unknown columns"):
        acoustic_window("mean:pitch")
    sp = _ds([[1], [0], [1]], ["anger"], (False, True, False))
    st = fit_normalization_over({"speech": sp}, {"acoustic": "mean"})
    assert st["acoustic"].per_window == "mean" and fit_normalization_over({"speech": sp})["acoustic"].per_window == ""


def test_settings_digest_and_stages():
    a, b = RecipeSettings(), RecipeSettings(epochs=13)
    assert RecipeSettings(speech_balance=True).digest("main") != a.digest("main")
    assert RecipeSettings(acoustic_norm="mean:mcep").digest("main") != a.digest("main")
    # a setting added later, left at its neutral value, keeps the digests of stage results cached before it existed
    noisy = RecipeSettings(acoustic_offset_noise=0.5)
    assert noisy.digest("main") != a.digest("main") and noisy.training_digest("loo") != a.training_digest("loo")
    from recipes.recipe_default import _NEUTRAL_SETTINGS

    before = {k: v for k, v in a.to_dict().items() if k not in _NEUTRAL_SETTINGS and k != "threads"}
    import hashlib
    import json

    blob = json.dumps([before, [repr("main")]], sort_keys=True, default=str)
    assert a.digest("main") == hashlib.sha1(blob.encode()).hexdigest()[:12]
    assert a.digest("main") != b.digest("main") and a.digest("main") == RecipeSettings().digest("main")
    assert a.protocol().epochs == a.protocol_epochs and a.protocol().hidden_acoustic == a.protocol_hidden_acoustic

    class Args:
        no_report = False
        stages = "main,loo"

    assert stages_from_args(Args()) == ("main", "loo")
    Args.stages = "main,bogus"
    with pytest.raises(ValueError, match="bogus"):
        stages_from_args(Args())


@pytest.fixture(scope="module")
def quick_run(shared_dir, tmp_path_factory):
    """The quick recipe end to end on real data (features extracted into the test cache)."""
    out = tmp_path_factory.mktemp("recipe")
    res = run_recipe(
        shared_dir,
        out / "quick.ckpt",
        out / "CARD.md",
        RecipeSettings.quick(),
        work=out / "work",
        workers=2,
        log_fn=lambda m: None,
    )
    return out, res


@pytest.mark.slow
def test_quick_recipe_writes_a_live_compatible_checkpoint(quick_run):
    from feature_adapters.blendshapes import visual_space
    from feature_adapters.covarep import COVAREP74_DYNAMICS
    from feature_adapters.embeddings import get_provider
    from model.checkpoint import Checkpoint

    out, res = quick_run
    ck = Checkpoint.load(out / "quick.ckpt")
    prov = get_provider()
    space = visual_space(RecipeSettings.quick().visual_space)  # the space the face stage then produces
    assert RecipeSettings.quick().window.acoustic_space == COVAREP74_DYNAMICS.name  # the recipe's step space
    ck.check_spaces({"text": prov.space(), "acoustic": COVAREP74_DYNAMICS, "visual": space})
    assert ck.config.input_dims["visual"] == space.dim and ck.config.input_dims["acoustic"] == COVAREP74_DYNAMICS.dim
    assert ck.display_emotions == list(corpora.PAPER_SIX)
    assert "calm" not in ck.emotion_words and not set(ck.emotion_words) & set(corpora.CALM_SYNONYMS)
    assert set(SEEN) | {"love", "gratitude"} <= set(ck.emotion_words)
    assert ck.config.zero_shot["method"] == "affect" and ck.config.zero_shot["version"] == 2
    assert ck.provenance["zero_shot_anchors"]["acoustic"] == list(SEEN)
    # the numpy runtime composes a new word from the anchors; a trained word keeps its own map
    rt = ck.build_runtime()
    E = np.stack([ck.vector_of("anger"), prov.vector("calm")])
    A, _ = rt.zero_shot
    assert A["acoustic"].shape == (7, prov.dim) and np.abs(A["acoustic"]).sum() > 0
    emb = rt.emotion_embeddings(E)["acoustic"]
    wt, b = rt.maps["acoustic"]
    assert np.allclose(emb[0], E[0] @ wt + b, atol=1e-4) and not np.allclose(emb[1], E[1] @ wt + b, atol=1e-3)
    assert "non-commercial" in ck.provenance["licence"]


@pytest.mark.slow
def test_quick_recipe_reports_every_figure(quick_run):
    out, res = quick_run
    fig = res["main"]["figures"]
    assert set(fig["ravdess"]) == {"tav", "ta", "tv", "av", "t", "a", "v"}
    assert set(fig["calm"]) == {"tav", "a", "v", "av"}
    assert fig["calm"]["tav"]["average"]["positives"] == 4  # one calm clip per validation actor
    assert {"nemo", "ased", "urdu", "spanish"} == set(fig["speech_by_corpus"])
    assert {"muxspace", "emilmrk"} == set(fig["faces_by_source"])
    assert set(res["loo"]["rows"]) == set(SEEN)
    assert {"voices_a", "faces_v", "goemotions_t", "ravdess_tav"} <= set(res["loo"]["rows"]["anger"])
    assert set(res["loco"]["rows"]) == {"nemo", "ased", "urdu", "spanish", "ravdess"}
    assert set(res["loso"]["rows"]) == {"muxspace", "emilmrk"}
    assert len(res["spread"]["per_seed"]) == 2
    assert set(headline(fig)) <= set(res["spread"]["summary"])
    card = (out / "CARD.md").read_text()
    for needle in (
        "Leave one corpus out",
        "leave one emotion out",
        "Zero-shot calm",
        "EF-LSTM",
        "non-commercial",
        "not stated",
        "Checkpoint size",
        "Spread over 2 seeds",
    ):
        assert needle in card, needle
    assert "$" not in card.replace("$ ", "")  # every template field was filled
    json.loads((out / "work" / "results-latest.json").read_text())


@pytest.mark.slow
def test_quick_recipe_rerun_reuses_stages(quick_run, shared_dir):
    out, res = quick_run
    logs = []
    again = run_recipe(
        shared_dir, out / "again.ckpt", None, RecipeSettings.quick(), work=out / "work", log_fn=logs.append
    )
    assert any("reusing" in m for m in logs) and not any(m.endswith("running") for m in logs)
    assert again["main"]["headline"] == res["main"]["headline"]
    assert (out / "again.ckpt").exists()


def test_training_digest_ignores_the_zero_shot_rule():
    a = RecipeSettings()
    b = RecipeSettings(zsl_method="affect", zsl_beta=1.0, zsl_beta_affect=3.0, zsl_ridge=0.1, zsl_text=True)
    assert a.training_digest("loo", "anger") == b.training_digest("loo", "anger")
    assert a.digest("loo") != b.digest("loo")  # the stage figures do depend on it
    assert a.training_digest("loo", "anger") != RecipeSettings(epochs=13).training_digest("loo", "anger")


def test_zero_shot_rule_v1_and_v2():
    from recipes.recipe_default import zero_shot_rule

    anchors = {"acoustic": ["anger", "sad"], "visual": ["anger"]}
    v1 = zero_shot_rule(RecipeSettings(zsl_method="compose", zsl_beta=5.0), anchors)
    assert v1 == {"method": "compose", "beta": 5.0, "anchors": {"acoustic": 2, "visual": 1}}
    v2 = zero_shot_rule(RecipeSettings(zsl_method="affect", zsl_beta=0.0, zsl_beta_affect=30.0, zsl_ridge=0.1), anchors)
    assert v2["method"] == "affect" and v2["version"] == 2 and v2["axes"] == 3 and v2["ridge"] == 0.1
    assert v2["axis_names"] == ["valence", "arousal", "dominance"]


def test_apply_zero_shot_rule_rescores_a_kept_model_without_touching_its_weights(tmp_path):
    import torch

    from feature_adapters.embeddings import get_provider
    from model.checkpoint import Checkpoint
    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from model.normalize import NormStats
    from recipes.recipe_default import RunResult, apply_zero_shot_rule, composition_of, rule_axes, to_checkpoint

    prov = get_provider()
    names = list(SEEN)
    vecs = prov.vectors(names).astype(np.float32)
    anchors = {"acoustic": names, "visual": names[:4]}
    cfg = ModelConfig(
        input_dims={"text": prov.dim, "acoustic": 74, "visual": 35},
        hidden={"text": prov.dim, "acoustic": 8, "visual": 4},
        emb_dim=prov.dim,
        zero_shot={"method": "compose", "beta": 5.0, "anchors": {"acoustic": 7, "visual": 4}},
    )
    torch.manual_seed(0)
    net = EmotionEmbeddingNet(cfg).eval()
    net.set_zero_shot({"acoustic": vecs, "visual": vecs[:4]}, np.eye(prov.dim))
    norm = {m: NormStats.identity(d) for m, d in (("text", prov.dim), ("acoustic", 74), ("visual", 35))}
    ck = to_checkpoint(RunResult(net, norm, names, vecs, {}, anchors, None, 0.0), prov, {})
    path = ck.save(tmp_path / "kept.ckpt")
    old = Checkpoint.load(path)
    same = apply_zero_shot_rule(old, RecipeSettings(zsl_method="compose", zsl_beta=5.0), prov)
    assert same.config.zero_shot == old.config.zero_shot
    s2 = RecipeSettings(zsl_method="affect", zsl_beta=0.0, zsl_beta_affect=30.0, zsl_text=True)
    new = apply_zero_shot_rule(old, s2, prov)
    assert old.config.zero_shot["method"] == "compose" and "zsl_axes" not in old.state_dict  # the input is kept
    assert new.config.zero_shot["method"] == "affect" and new.config.zero_shot["anchors"]["text"] == 7
    assert np.allclose(new.state_dict["zsl_axes"], rule_axes(prov))
    for k, v in old.state_dict.items():
        assert np.array_equal(np.asarray(new.state_dict[k]), np.asarray(v))  # weights and anchors unchanged
    back = Checkpoint.load(new.save(tmp_path / "v2.ckpt"))
    E = np.stack([vecs[0], prov.vector("calm")])
    rt, tn = back.build_runtime(), back.build_model()
    with torch.no_grad():
        want = {m: v.numpy() for m, v in tn.emotion_embeddings(torch.from_numpy(E)).items()}
    got = rt.emotion_embeddings(E)
    for m in ("text", "acoustic", "visual"):
        assert np.allclose(got[m], want[m], atol=1e-4)
    assert np.allclose(got["text"][0], vecs[0], atol=1e-3)  # a trained word keeps its own vector
    assert not np.allclose(got["text"][1], E[1], atol=1e-2)  # calm's text row is composed from the anchors
    comp = composition_of(back, prov, "calm")
    assert set(comp) == {"acoustic", "visual", "text"} and abs(sum(comp["acoustic"].values()) - 1) < 1e-2


def test_voice_and_text_sets_take_the_visual_width_of_a_richer_space():
    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME
    from recipes.recipe_default import feature_spaces, with_visual_dim

    text = _ds([[1, 0], [0, 1]], ["a", "b"], mods=(True, False, False))
    wide = with_visual_dim(text, 87)
    assert wide.visual.shape == (2, 2, 87) and not np.asarray(wide.visual).any()
    assert np.array_equal(wide.text, text.text) and np.array_equal(wide.modality_mask, text.modality_mask)
    faces = _ds([[1, 0]], ["a", "b"], mods=(False, False, True))
    assert with_visual_dim(faces, 87) is faces  # a set with visual rows keeps them (its space is its own)

    class Provider:
        def space(self):
            from feature_adapters.spaces import FeatureSpace

            return FeatureSpace("glove-test", 3)

    assert feature_spaces(Provider())["visual"].name == "facet-35"
    assert feature_spaces(Provider(), FACET35_BLENDSHAPES52_NAME)["visual"].dim == 87
    assert RecipeSettings().visual_space in ("facet-35", FACET35_BLENDSHAPES52_NAME)


@pytest.mark.slow
def test_quick_recipe_in_the_blendshape_space_names_it_and_runs_live(shared_dir, tmp_path):
    """The quick recipe's checkpoint in facet-35+mediapipe-blendshapes-52: recorded, and the engine's face stage
    produces its 87 columns (RAVDESS's OpenFace rows filled from their AUs)."""
    from dataclasses import replace

    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME
    from livemer.engine import Engine, EngineConfig
    from livemer.session import Session, SessionOptions
    from livemer.stages import FaceOptions
    from model.checkpoint import Checkpoint

    s = replace(RecipeSettings.quick(), visual_space=FACET35_BLENDSHAPES52_NAME, replay_per_emotion=0)
    run_recipe(
        shared_dir, tmp_path / "bs.ckpt", None, s, work=tmp_path / "work", stages=("main",), log_fn=lambda m: None
    )
    ck = Checkpoint.load(tmp_path / "bs.ckpt")
    assert ck.feature_spaces["visual"].name == FACET35_BLENDSHAPES52_NAME and ck.config.input_dims["visual"] == 87
    assert ck.provenance["settings"]["visual_space"] == FACET35_BLENDSHAPES52_NAME
    eng = Engine(EngineConfig(checkpoint=tmp_path / "bs.ckpt", smoothing_tau=0.0, modalities="v"))
    ses = Session(SessionOptions(face=FaceOptions(rate_hz=0.0), stages=("face",)), eng)
    assert ses.face.space == FACET35_BLENDSHAPES52_NAME
