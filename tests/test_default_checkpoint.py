"""The shipped default checkpoint: loads, fits the running extractors, composes new words, and scores held-out data.

The held-out checks run livemer's live extractors on small samples of the
recipe's held-out splits (never trained on): one clip per emotion of each
RAVDESS validation actor (17-20), the first photos per (source, emotion) of
the held-out photos, one clip per (speaker, emotion) of the held-out speakers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recipes import corpora

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "default.ckpt"
#: Floors for the mean AUC on those samples (chance is 0.5). The figures measured on the whole held-out
#: splits when the checkpoint was built are in assets/MODEL_CARD.md; the floors sit below them, since
#: the samples are small (measured on the whole splits, v2.1: faces 82.2, voices 72.8, RAVDESS T+A+V 89.8,
#: A+V 90.0; GoEmotions dev 83.2).
FLOOR_RAVDESS = {"tav": 0.75, "av": 0.75}
FLOOR_FACES = 0.75
FLOOR_VOICES = 0.65
SEVEN = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")


@pytest.fixture(scope="module")
def shipped():
    from model.checkpoint import Checkpoint

    if not SHIPPED.exists():
        pytest.fail(f"{SHIPPED} is missing: rebuild it with `make checkpoint`")
    return Checkpoint.load(SHIPPED)


def _visual(shipped) -> str:
    """The visual space the shipped checkpoint names (Facet-35 for v2.1; the face stage produces either)."""
    return shipped.feature_spaces["visual"].name


def _window(shipped):
    """Window settings in the acoustic step space the shipped checkpoint names (v2.3: covarep-74+dynamics-28)."""
    from recipes.recipe_data import WindowSettings

    return WindowSettings(acoustic_space=shipped.feature_spaces["acoustic"].name)


def test_shipped_checkpoint_fits_the_running_extractors(shipped):
    from feature_adapters.blendshapes import visual_space
    from feature_adapters.covarep import COVAREP74_DYNAMICS
    from feature_adapters.embeddings import get_provider

    prov = get_provider()
    vis = visual_space(_visual(shipped))
    shipped.check_spaces({"text": prov.space(), "acoustic": COVAREP74_DYNAMICS, "visual": vis})  # v2.3's step space
    assert shipped.config.input_dims["visual"] == vis.dim
    assert shipped.config.input_dims["acoustic"] == COVAREP74_DYNAMICS.dim
    assert shipped.embedding_space == prov.name
    assert shipped.display_emotions == list(corpora.PAPER_SIX)
    forms = shipped.provenance["emotion_word_forms"]
    for name in shipped.emotion_words:
        np.testing.assert_allclose(shipped.vector_of(name), prov.vector(forms[name]), rtol=1e-3, atol=1e-4)
    held = set(corpora.CALM_SYNONYMS)
    assert not held & set(shipped.emotion_words) and not held & set(forms.values())
    assert "non-commercial" in shipped.provenance["licence"]
    assert SHIPPED.stat().st_size < 8_000_000
    net = shipped.build_model()
    assert all(np.isfinite(p.detach().numpy()).all() for p in net.parameters())


def test_shipped_checkpoint_carries_the_few_shot_replay_set(shipped):
    from model.adapt import replay_of

    batch = replay_of(shipped)
    rep = shipped.provenance["replay"]
    assert batch is not None and len(batch.modality_mask) == rep["windows"] > 0
    assert set(rep["emotions"]) <= set(SEVEN)


def test_shipped_checkpoint_composes_an_added_word_from_its_trained_emotions(shipped):
    from feature_adapters.embeddings import get_provider

    prov = get_provider()
    assert shipped.config.zero_shot["method"] == "affect"  # v2.2: placed by affect coordinates (model.zeroshot)
    anchors = shipped.provenance["zero_shot_anchors"]
    assert anchors["acoustic"] == list(SEVEN) and anchors["visual"] == list(SEVEN)
    rt = shipped.build_runtime()
    E = np.stack([shipped.vector_of("anger"), prov.vector("calm")]).astype(np.float32)
    embs = rt.emotion_embeddings(E)
    for m in ("acoustic", "visual"):
        wt, b = rt.maps[m]
        learned = np.stack([shipped.vector_of(a) for a in anchors[m]]) @ wt + b
        assert np.allclose(embs[m][0], E[0] @ wt + b, atol=1e-3)  # a trained emotion keeps its own map
        # calm lands on an affine mix of what the modality learned (weights may be negative: it may extrapolate)
        w, *_ = np.linalg.lstsq(learned.T, embs[m][1], rcond=None)
        assert np.allclose(learned.T @ w, embs[m][1], atol=1e-2)


def _held_out_faces(shared, per_class: int, space: str = "facet-35", acoustic_dim: int = 74):
    from recipes.faces import OK, build_faces, photo_table, read_photos, source_emotions
    from recipes.feature_cache import FeatureCache
    from recipes.recipe_default import RecipeSettings, heldout_photos

    held = heldout_photos(shared, RecipeSettings())
    photos = read_photos(Path(shared) / "data" / "faces")
    labels = source_emotions(photos)
    pick, count = [], {}
    for p in photos:
        k = (p.source, p.emotion)
        if p.key in held and count.get(k, 0) < per_class:
            pick.append(p)
            count[k] = count.get(k, 0) + 1
    table, _ = photo_table(pick, cache=FeatureCache())
    ok = np.flatnonzero(table["status"] == OK)
    from recipes.recipe_default import with_acoustic_dim

    ds = build_faces([pick[i] for i in ok], {k: v[ok] for k, v in table.items()}, source_labels=labels, space=space)
    return with_acoustic_dim(ds, acoustic_dim)  # the checkpoint's acoustic step width (no voice in a photo)


def _held_out_voices(shared, space: str = "facet-35", window=None):
    from recipes.feature_cache import FeatureCache
    from recipes.recipe_data import WindowSettings
    from recipes.recipe_default import RecipeSettings, heldout_speakers
    from recipes.recipe_extract import acoustic_extractor, extract_clip
    from recipes.speech import build_speech, corpus_emotions, read_clips, speech_windows

    held = heldout_speakers(shared, RecipeSettings())
    clips = read_clips(Path(shared) / "data" / "speech")
    labels = corpus_emotions(clips)
    seen, pick = set(), []
    for c in clips:
        if c.speaker_id in held and (c.speaker_id, c.emotion) not in seen:
            seen.add((c.speaker_id, c.emotion))
            pick.append(c)
    cache, ax = FeatureCache(), acoustic_extractor()
    windows = speech_windows(pick, [extract_clip(c.path, cache, ax) for c in pick], settings=window or WindowSettings())
    from feature_adapters.blendshapes import visual_space
    from recipes.recipe_default import with_visual_dim

    return with_visual_dim(build_speech(pick, windows, corpus_labels=labels), visual_space(space).dim)


@pytest.mark.slow
def test_shipped_checkpoint_scores_the_validation_actors(shipped, shared_dir):
    from feature_adapters.embeddings import get_provider
    from model.evaluation import evaluate_checkpoint, evaluate_subsets
    from recipes.recipe_data import load_ravdess

    prov = get_provider()
    ds = load_ravdess(
        shared_dir,
        prov,
        (17, 18, 19, 20),
        (1.0,),
        include_calm=True,
        clips_per_class=1,
        settings=_window(shipped),
        visual_space=_visual(shipped),
    )
    assert len(ds) == 32
    tables = evaluate_subsets(shipped, ds, tuple(FLOOR_RAVDESS), emotions=list(SEVEN), provider=prov)
    for subset, floor in FLOOR_RAVDESS.items():
        auc = tables[subset].average().auc
        assert auc >= floor, f"{subset}: mean AUC {auc:.3f} below the floor {floor}"
    calm = evaluate_checkpoint(shipped, ds, "av", ["calm"], provider=prov)
    assert calm.rows[0].positives == 4 and np.isfinite(calm.rows[0].auc)


@pytest.mark.slow
def test_shipped_checkpoint_scores_held_out_photos_through_the_live_face_path(shipped, shared_dir):
    from feature_adapters.embeddings import get_provider
    from model.evaluation import evaluate_checkpoint

    ds = _held_out_faces(
        shared_dir, per_class=8, space=_visual(shipped), acoustic_dim=shipped.config.input_dims["acoustic"]
    )
    assert len(ds) >= 60
    t = evaluate_checkpoint(shipped, ds, "v", [e for e in SEVEN if e in ds.emotions], provider=get_provider())
    assert t.average().auc >= FLOOR_FACES, f"faces: mean AUC {t.average().auc:.3f} below {FLOOR_FACES}"


@pytest.mark.slow
def test_shipped_checkpoint_scores_held_out_speakers(shipped, shared_dir):
    from feature_adapters.embeddings import get_provider
    from model.evaluation import evaluate_checkpoint

    ds = _held_out_voices(shared_dir, _visual(shipped), _window(shipped))
    assert set(ds.group("corpus").tolist()) == {"nemo", "ased", "urdu", "spanish"}
    t = evaluate_checkpoint(shipped, ds, "a", [e for e in SEVEN if e in ds.emotions], provider=get_provider())
    assert t.average().auc >= FLOOR_VOICES, f"voices: mean AUC {t.average().auc:.3f} below {FLOOR_VOICES}"


def test_shipped_checkpoint_gets_the_visual_columns_it_names_from_the_face_stage(shipped):
    """v2.1 names Facet-35 (35 columns), v2.2 Facet-35 + 52 blendshapes (87): the engine's face stage follows."""
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES
    from livemer.engine import Engine, EngineConfig
    from livemer.session import Session, SessionOptions
    from livemer.stages import FaceOptions

    from conftest import MediaPipeStub

    shapes = {n: 0.0 for n in BLENDSHAPE_NAMES} | {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9}

    eng = Engine(EngineConfig(checkpoint=SHIPPED, smoothing_tau=0.0, modalities="v"))
    ses = Session(
        SessionOptions(face=FaceOptions(rate_hz=0.0), stages=("face",)),
        eng,
        {"face": MediaPipeStub(shapes, box=(0.0, 0.0, 9.0, 9.0))},
    )
    ses.load(wait=("face",))
    ses.start()
    for k in range(10):
        obs = ses.push_frame(k / 5, np.zeros((16, 16, 3), np.uint8))
    assert ses.face.space == _visual(shipped) and obs.row.shape == (shipped.config.input_dims["visual"],)
    res = ses.result(2.0)
    assert res.modalities_used == ("visual",)
    assert res.probabilities[list(eng.emotions).index("happy")] == max(res.probabilities)  # a broad smile
    ses.close()
