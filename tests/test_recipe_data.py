"""Recipe datasets: RAVDESS windows through the live adapters and aligner; text-only corpora."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recipes import corpora
from recipes.recipe_data import WindowSettings, build_ravdess, build_text, clip_windows, select_clips, text_steps
from recipes.recipe_extract import ClipAudioFeatures


class FakeProvider:
    """A tiny word-vector provider with the interface the text adapter uses."""

    name = "fake-50d"
    dim = 50

    def __init__(self, words=("kids", "are", "talking", "by", "the", "door", "i", "love", "it", "do", "n't")):
        self.vocab = {w: i for i, w in enumerate(words)}

        class KV:
            key_to_index = self.vocab
            vectors = np.stack([self.vec(w) for w in words])

        self.keyed_vectors = KV()

    def vec(self, w):
        v = np.zeros(self.dim, np.float32)
        v[list(self.vocab).index(w) % self.dim] = 1.0
        v[-1] = 0.5
        return v

    def vectors_or_zero(self, toks):
        out = np.zeros((len(toks), self.dim), np.float32)
        oov = np.zeros(len(toks), bool)
        for i, t in enumerate(toks):
            if t in self.vocab:
                out[i] = self.vec(t)
            else:
                oov[i] = True
        return out, oov


def test_text_steps_last_tokens_oov_kept_punctuation_dropped():
    p = FakeProvider()
    x, m = text_steps("I love it, zzzz!", p, 6)
    # tokens: i love it zzzz (',' and '!' are not steps); padded in front
    assert m.tolist() == [False, False, True, True, True, False]
    np.testing.assert_array_equal(x[2], p.vec("i"))
    assert not x[5].any() and not x[:2].any()
    x, m = text_steps("i love it i love it i love it", p, 4)
    assert m.all()
    np.testing.assert_array_equal(x[-1], p.vec("it"))
    x, m = text_steps("I don't", p, 4)  # clitics split as GloVe's tokenizer did
    np.testing.assert_array_equal(x[-1], p.vec("n't"))


def test_text_token_ids_cached_and_equal_to_direct(tmp_path):
    from recipes.feature_cache import FeatureCache
    from recipes.recipe_data import OOV_ID, PAD_ID, load_text, text_token_ids

    p = FakeProvider()
    assert text_token_ids("I love zzzz", p, 5).tolist() == [PAD_ID, PAD_ID, p.vocab["i"], p.vocab["love"], OOV_ID]
    samples = [corpora.TextSample("I love it", ("happy",), "g"), corpora.TextSample("the door", ("sad",), "g")]
    src = tmp_path / "train.tsv"
    src.write_text("whatever the reader read")
    cache = FeatureCache(tmp_path / "c")
    a = load_text(src, samples, ["happy", "sad"], p, 4, cache=cache)
    b = load_text(src, samples, ["happy", "sad"], p, 4, cache=cache)
    assert (cache.misses, cache.hits) == (1, 1)
    c = build_text(samples, ["happy", "sad"], p, 4)
    np.testing.assert_array_equal(a.text, c.text)
    np.testing.assert_array_equal(b.step_masks["text"], c.step_masks["text"])


def test_build_text_labels_masks_and_dropped_samples():
    p = FakeProvider()
    samples = [
        corpora.TextSample("I love it", ("happy", "love"), "goemotions"),
        corpora.TextSample("qqq www", ("sad",), "goemotions"),  # no known token: dropped
        corpora.TextSample("the door", ("neutral",), "goemotions"),
    ]
    ds = build_text(samples, ["happy", "love", "sad", "neutral"], p, n_steps=5, name="g")
    assert len(ds) == 2 and ds.ids == ["goemotions:0", "goemotions:2"]
    assert ds.labels.tolist() == [[1, 1, 0, 0], [0, 0, 0, 1]]
    assert ds.modality_mask.tolist() == [[True, False, False]] * 2
    assert ds.acoustic.shape == (2, 5, 74) and not ds.acoustic.any() and ds.visual.shape == (2, 5, 35)
    assert ds.label_mask.all()


def _clip(actor, emotion, intensity=1, statement=1, repetition=1):
    code = {v: k for k, v in corpora.RAVDESS_EMOTIONS.items()}[emotion]
    name = f"03-01-{code}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"
    return corpora.RavdessClip(Path(f"Actor_{actor:02d}/{name}.flac"), actor, emotion, intensity, statement, repetition)


def test_select_clips_prefers_strong_statement1_rep1():
    clips = [_clip(1, "happy", i, s, r) for i in (1, 2) for s in (1, 2) for r in (1, 2)] + [
        _clip(1, "neutral", 1, 2, 2),
        _clip(1, "neutral", 1, 1, 2),
    ]
    one = select_clips(clips, 1)
    assert sorted(c.path.stem for c in one) == ["03-01-01-01-01-02-01", "03-01-03-02-01-01-01"]
    assert len(select_clips(clips, 3)) == 3 + 2
    assert select_clips(clips, None) == clips


def _audio(duration=3.0, words=(("kids", 0.8, 1.2), ("are", 1.2, 1.4), ("talking", 1.4, 1.9))):
    from feature_adapters.acoustic import NATIVE_NAMES
    from feature_adapters.text import TimedWord

    n = int(duration * 100)
    t = 0.005 + 0.01 * np.arange(n)
    f = np.zeros((n, len(NATIVE_NAMES)), np.float32)
    speech = (t >= 0.86) & (t < 1.84)  # voiced inside the words, beyond the 0.051 s tolerance of the pauses
    f[:, NATIVE_NAMES.index("vuv")] = speech
    f[:, NATIVE_NAMES.index("f0")] = np.where(speech, 200.0, 0.0)
    f[:, NATIVE_NAMES.index("mcep_3")] = t  # a ramp: step means show where frames came from
    return ClipAudioFeatures(Path("x.flac"), duration, t, f, NATIVE_NAMES, [TimedWord(*w) for w in words])


def test_clip_windows_live_alignment():
    p = FakeProvider()
    facet = np.arange(35, dtype=np.float32)
    w_end, w_mid = clip_windows(_audio(), facet, [1.0, 0.5], p, WindowSettings())
    real = w_end.step_mask
    words = [w for w, r in zip(w_end.words, real) if r]
    # leading silence 0.8 s -> one 0.5 s pseudo-step; 3 words; trailing 1.1 s -> two pseudo-steps
    assert words == [None, "kids", "are", "talking", None, None]
    assert w_end.text_mask[real].tolist() == [False, True, True, True, False, False]
    assert w_end.acoustic_mask[real].tolist() == [False, True, True, True, False, False]  # voiced frames only
    assert w_end.visual_mask[real].all()  # the face is present throughout
    np.testing.assert_allclose(w_end.visual[real][0], facet)
    from feature_adapters.covarep import COVAREP_COLUMNS

    j = COVAREP_COLUMNS.index("MCEP_3")
    k = int(np.flatnonzero(real)[1])  # "kids" 0.8-1.2 s: mean of frame times inside
    assert w_end.acoustic[k, j] == pytest.approx(1.03, abs=0.01)  # voiced frames 0.865..1.195 s
    assert w_end.acoustic[k, COVAREP_COLUMNS.index("F0")] == pytest.approx(200.0)
    # the window at 1.5 s holds only what had ended by then
    assert [w for w, r in zip(w_mid.words, w_mid.step_mask) if r] == [None, "kids", "are"]


def test_clip_windows_in_the_dynamics_space_append_the_within_step_dynamics_to_the_same_means():
    from feature_adapters.covarep import COVAREP74_DYNAMICS, COVAREP_COLUMNS

    p, facet = FakeProvider(), np.arange(35, dtype=np.float32)
    (plain,) = clip_windows(_audio(), facet, [1.0], p, WindowSettings())
    (dyn,) = clip_windows(_audio(), facet, [1.0], p, WindowSettings(acoustic_space=COVAREP74_DYNAMICS.name))
    assert plain.acoustic.shape[1] == 74 and dyn.acoustic.shape[1] == COVAREP74_DYNAMICS.dim == 102
    np.testing.assert_array_equal(dyn.acoustic[:, :74], plain.acoustic)
    np.testing.assert_array_equal(dyn.acoustic_mask, plain.acoustic_mask)
    k = int(np.flatnonzero(dyn.step_mask)[1])  # "kids": constant F0 and a MCEP_3 ramp over its voiced frames
    col = COVAREP74_DYNAMICS.columns
    assert dyn.acoustic[k, col.index("F0_std")] == pytest.approx(0.0, abs=1e-4)
    assert dyn.acoustic[k, col.index("MCEP_3_std")] > 0 and dyn.acoustic[k, col.index("MCEP_3_absdelta")] > 0
    assert WindowSettings(acoustic_space=COVAREP74_DYNAMICS.name).acoustic_dim == 102
    assert WindowSettings().acoustic_dynamics == () and COVAREP_COLUMNS[0] == "F0"


def test_build_ravdess_calm_only_in_validation():
    p = FakeProvider()
    clips = [_clip(1, "calm"), _clip(1, "angry"), _clip(1, "neutral")]
    audio = [_audio(), _audio(), _audio()]
    face = {c.face_key: np.linspace(0, 1, 35).astype(np.float32) for c in clips}
    tr = build_ravdess(clips, audio, face, p, (0.6, 1.0), include_calm=False)
    assert "calm" not in tr.emotions and len(tr) == 4
    assert tr.labels[:, tr.emotions.index("anger")].tolist() == [1, 1, 0, 0]
    va = build_ravdess(clips, audio, face, p, (1.0,), include_calm=True)
    assert va.emotions[-1] == "calm" and va.labels[:, -1].tolist() == [1, 0, 0]
    assert va.labels[0, :-1].sum() == 0  # a calm clip is a negative of every trained name
    with pytest.raises(KeyError, match="face action units"):
        build_ravdess(clips, audio, {}, p, (1.0,), include_calm=True)


def test_ravdess_openface_rows_in_the_blendshape_space_fill_the_52_columns_from_their_aus():
    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME, aus_to_blendshapes, blendshape_row
    from feature_adapters.facet import OPENFACE_COLUMNS
    from recipes.recipe_data import ravdess_visual_rows

    p = FakeProvider()
    clips = [_clip(1, "angry"), _clip(1, "happy")]
    face = {c.face_key: np.linspace(0, 1, 35).astype(np.float32) * (k + 1) for k, c in enumerate(clips)}
    r35 = build_ravdess(clips, [_audio(), _audio()], face, p, (1.0,), include_calm=False)
    r87 = build_ravdess(
        clips, [_audio(), _audio()], face, p, (1.0,), include_calm=False, visual_space=FACET35_BLENDSHAPES52_NAME
    )
    assert r35.visual.shape[2] == 35 and r87.visual.shape[2] == 87
    np.testing.assert_array_equal(r87.visual[..., :35], r35.visual)
    np.testing.assert_array_equal(r87.step_masks["visual"], r35.step_masks["visual"])
    raw = face[clips[1].face_key]
    aus = {c[:-2]: raw[j] for j, c in enumerate(OPENFACE_COLUMNS) if c.endswith("_r")}
    aus["AU28"] = 5.0 * raw[OPENFACE_COLUMNS.index("AU28_c")]
    rows = ravdess_visual_rows(face, [clips[1].face_key], FACET35_BLENDSHAPES52_NAME)
    np.testing.assert_allclose(rows[0, 35:], blendshape_row(aus_to_blendshapes(aus, 5.0)), atol=1e-6)
    np.testing.assert_allclose(r87.visual[1, -1, 35:], rows[0, 35:], atol=1e-6)
