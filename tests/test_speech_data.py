"""Multilingual speech corpora through the recipe's acoustic extractor into windows (recipes.speech)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from recipes import speech
from recipes.feature_cache import FeatureCache
from recipes.recipe_data import WindowSettings, clip_windows, windows_to_arrays
from recipes.splits import assert_disjoint, holdout, leave_one_out


def _voice(seconds=1.6, f0=140.0, sr=16000):
    """A harmonic, vibrato 'vowel' loud enough to be voiced, with 0.3 s of silence each side."""
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    ph = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * ph) / k for k in range(1, 12)) * 0.2
    pad = np.zeros(int(0.3 * sr))
    return np.concatenate([pad, y, pad]).astype(np.float32)


def _tiny_shared(tmp_path):
    """Two corpora: 'nemo' (two speakers, voiced clips + one silent) and 'urdu' (one clip, one corrupt file)."""
    root = tmp_path / "data" / "speech"
    rows = {
        "nemo": [
            ("a1.opus", "anger", "A", _voice(f0=180)),
            ("a2.opus", "sad", "A", _voice(f0=120)),
            ("b1.opus", "happy", "B", _voice(f0=200)),
            ("quiet.opus", "neutral", "B", np.zeros(32000, np.float32)),
        ],
        "urdu": [("u1.opus", "anger", "A", _voice(f0=160)), ("bad.opus", "sad", "A", None)],
    }
    for corpus, items in rows.items():
        (root / corpus / "clips").mkdir(parents=True)
        lines = ["file,emotion,speaker,language"]
        for name, emo, spk, y in items:
            path = root / corpus / "clips" / name
            if y is None:
                path.write_bytes(b"OggS but not really an opus stream")
            else:
                sf.write(str(path), y, 16000, format="OGG", subtype="OPUS")
            lines.append(f"clips/{name},{emo},{spk},{'pl' if corpus == 'nemo' else 'ur'}")
        (root / corpus / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_clips_windows_masks_groups_and_bad_files(tmp_path, caplog):
    shared = _tiny_shared(tmp_path)
    cache = FeatureCache(tmp_path / "cache")
    rep: list = []
    with caplog.at_level(logging.WARNING):
        ds = speech.load_speech(shared, corpora=["nemo", "urdu"], cache=cache, report=rep, ends=(0.6, 1.0))
    r = rep[0]
    assert r.counts() == {"ok": 5, "no_face": 0, "failed": 1} and r.to_dict()["failed_files"]
    assert any("skipped" in m and "bad.opus" in m for m in caplog.messages)
    assert any("1 of 6 clips excluded" in m for m in caplog.messages)
    assert any("windows dropped (no voiced frame)" in m for m in caplog.messages)  # the silent clip
    assert {i.split("@")[0] for i in ds.ids} == {
        "nemo/clips/a1.opus",
        "nemo/clips/a2.opus",
        "nemo/clips/b1.opus",
        "urdu/clips/u1.opus",
    }
    assert len(ds) == 8 and ds.modality_mask.tolist() == [[False, True, False]] * 8  # acoustic only
    assert not ds.step_masks["text"].any() and not ds.step_masks["visual"].any()
    assert ds.group("speaker").tolist()[:2] == ["nemo:A", "nemo:A"] and ds.group("speaker")[-1] == "urdu:A"
    assert ds.group("language").tolist()[-1] == "ur" and ds.group("corpus").tolist().count("urdu") == 2
    # each corpus annotates its own label set only
    assert ds.emotions == ["anger", "happy", "neutral", "sad"]
    urdu = ds.group("corpus") == "urdu"
    assert not ds.label_mask[urdu, ds.emotions.index("happy")].any() and ds.label_mask[~urdu].all()
    # windows are the recipe's clip windows (no words, no face) through the live aligner
    clip = speech.read_clips(shared / "data" / "speech", ["nemo"])[0]
    from recipes.recipe_extract import extract_clip

    w = windows_to_arrays(clip_windows(extract_clip(clip.path, cache), None, (0.6, 1.0), None, WindowSettings()))
    np.testing.assert_allclose(ds.acoustic[:2], w["acoustic"], atol=1e-6)
    assert np.array_equal(ds.step_masks["acoustic"][:2], w["acoustic_mask"])
    assert ds.step_masks["acoustic"][1].sum() >= 3  # 2.2 s of clip: several 0.5 s steps are voiced
    # a second load reads the one cached table of windows
    rep2: list = []
    again = speech.load_speech(shared, corpora=["nemo", "urdu"], cache=cache, report=rep2, ends=(0.6, 1.0))
    assert not rep2[0].computed() and rep2[0].counts() == r.counts() and again.ids == ds.ids
    assert (
        np.array_equal(again.acoustic, ds.acoustic) and again.group("speaker").tolist() == ds.group("speaker").tolist()
    )
    # held-out speakers within each corpus; leave-one-corpus-out
    tr, te = holdout(ds, "speaker", 0.5, seed=0, within="corpus")
    assert_disjoint(ds, "speaker", tr, te)
    assert [f[0] for f in leave_one_out(ds, "corpus")] == ["nemo", "urdu"]


def test_bad_labels_file_is_one_clear_error(tmp_path):
    with pytest.raises(speech.SpeechDataError, match="cannot read the labels file"):
        speech.read_clips(tmp_path, ["nemo"])
    (tmp_path / "nemo").mkdir()
    (tmp_path / "nemo" / "labels.csv").write_text("file,emotion,speaker,language\nclips/x.opus,bored,A,pl\n")
    with pytest.raises(speech.SpeechDataError, match="unknown emotion 'bored'"):
        speech.read_clips(tmp_path, ["nemo"])


def test_real_corpora_read_and_a_handful_load(shared_dir, tmp_path):
    clips = speech.read_clips(shared_dir / "data" / "speech")
    assert len(clips) == 8500 and len({c.speaker_id for c in clips}) == 117
    labels = speech.corpus_emotions(clips)
    assert labels["urdu"] == ["anger", "happy", "neutral", "sad"] and labels["spanish"] == list(speech.EMOTIONS)
    few = [c for c in clips if c.speaker_id in ("nemo:EB0", "spanish:spk0")]
    from recipes.extraction import first_per_class

    few = first_per_class(few, 1, lambda c: (c.speaker_id, c.emotion))
    cache = FeatureCache(tmp_path / "cache")
    rep = speech.extract_speech(few, cache=cache)
    assert rep.counts()["ok"] == len(few)
    from recipes.recipe_extract import extract_clip

    w = speech.speech_windows(few, [extract_clip(c.path, cache) for c in few])
    ds = speech.build_speech(few, w, corpus_labels=labels)
    assert len(ds) == len(few) and ds.modality_mask[:, 1].all()
    assert (ds.step_masks["acoustic"].sum(axis=1) >= 2).all()
