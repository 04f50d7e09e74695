"""SDK loaders on fixtures written in the exact real formats, and on the real .csd sample in ../shared."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from model.sdk import (
    IEMOCAP_EMOTIONS,
    MOSEI_EMOTIONS,
    DatasetError,
    average_over_intervals,
    build_csd_splits,
    find_csd_files,
    hash_fold,
    intervals_within,
    label_columns,
    load_folds,
    load_mosei_aligned,
    load_mult_pickle,
    load_mult_pickle_splits,
    load_splits,
    read_csd,
    write_csd,
    write_h5,
)

REAL_CSD = "media/sdk_format/CMU_MOSI_Opinion_Labels.csd"


# ---------------------------------------------------------------------------------------------
# fixtures in the real formats
# ---------------------------------------------------------------------------------------------
def write_aligned(d, split="train", n=5, t=20, dims=(300, 74, 35), seed=0):
    """The paper's CMU-MOSEI emotion files, real shapes (N x 20 x 300/74/35, N x 6), key d1."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, t, dims[0])).astype(np.float32)
    text[:, :3] = 0.0  # front padding
    audio = rng.normal(size=(n, t, dims[1])).astype(np.float32)
    audio[0, 5, 3] = -np.inf  # COVAREP's unvoiced frames
    video = rng.normal(size=(n, t, dims[2])).astype(np.float32)
    ey = np.zeros((n, 6), np.float32)
    ey[0, 3] = 1.3333  # happy
    ey[1, 0] = 0.3333  # anger
    ey[1, 5] = 2.0  # surprise
    ey[2, 4] = -0.0  # not positive
    write_h5(d / f"text_{split}_emb.h5", text)
    write_h5(d / f"audio_{split}.h5", audio)
    write_h5(d / f"video_{split}.h5", video)
    write_h5(d / f"ey_{split}.h5", ey)
    return text, audio, video, ey


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------------------------------------
# 1. CMU-MOSEI aligned
# ---------------------------------------------------------------------------------------------
def test_mosei_aligned_loads_real_shapes(tmp_path):
    text, audio, video, ey = write_aligned(tmp_path)
    ds = load_mosei_aligned(tmp_path, "train")
    assert ds.emotions == list(MOSEI_EMOTIONS) == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert ds.text.shape == (5, 20, 300) and ds.acoustic.shape == (5, 20, 74) and ds.visual.shape == (5, 20, 35)
    assert ds.labels[0].tolist() == [0, 0, 0, 1, 0, 0]
    assert ds.labels[1].tolist() == [1, 0, 0, 0, 0, 1]
    assert not ds.labels[2:].any()
    assert ds.acoustic[0, 5, 3] == 0.0  # -inf -> 0, as in the paper's code
    assert np.array_equal(ds.acoustic[0, 5, 4], audio[0, 5, 4])
    assert not ds.step_masks["text"][:, :3].any() and ds.step_masks["text"][:, 3:].all()
    assert ds.ids[1] == "train:1"


def test_load_splits_dispatches_by_kind(tmp_path):
    for i, s in enumerate(("train", "valid", "test")):
        write_aligned(tmp_path, s, n=3 + i, seed=i)
    out = load_splits("mosei-aligned", tmp_path)
    assert [len(out[s]) for s in ("train", "valid", "test")] == [3, 4, 5]
    with pytest.raises(DatasetError, match="unknown data kind 'foo'"):
        load_splits("foo", tmp_path)


def test_mosei_aligned_missing_file_names_file_and_expectation(tmp_path):
    write_aligned(tmp_path)
    (tmp_path / "video_train.h5").unlink()
    with pytest.raises(DatasetError) as e:
        load_mosei_aligned(tmp_path, "train")
    msg = one_line(e.value)
    assert "video_train.h5" in msg and "not found" in msg and "'d1'" in msg and "35" in msg


def test_mosei_aligned_wrong_key(tmp_path):
    write_aligned(tmp_path)
    write_h5(tmp_path / "audio_train.h5", np.zeros((5, 20, 74), np.float32), key="data")
    with pytest.raises(DatasetError) as e:
        load_mosei_aligned(tmp_path, "train")
    msg = one_line(e.value)
    assert "audio_train.h5" in msg and "no dataset 'd1'" in msg and "found keys: data" in msg


@pytest.mark.parametrize(
    "fname, array, expect",
    [
        ("audio_train.h5", np.zeros((5, 20, 80), np.float32), "(N, T, 74)"),
        ("video_train.h5", np.zeros((5, 20), np.float32), "(N, T, 35)"),
        ("video_train.h5", np.zeros((4, 20, 35), np.float32), "4 samples x 20 steps, but text_train_emb.h5 has 5 x 20"),
        ("ey_train.h5", np.zeros((5, 7), np.float32), "expected emotion intensities of shape (5, 6)"),
    ],
)
def test_mosei_aligned_wrong_shape(tmp_path, fname, array, expect):
    write_aligned(tmp_path)
    write_h5(tmp_path / fname, array)
    with pytest.raises(DatasetError) as e:
        load_mosei_aligned(tmp_path, "train")
    msg = one_line(e.value)
    assert fname in msg and expect in msg


def test_mosei_aligned_nan_filled_feature_is_an_error(tmp_path):
    write_aligned(tmp_path)
    write_h5(tmp_path / "video_train.h5", np.full((5, 20, 35), np.nan, np.float32))
    with pytest.raises(DatasetError) as e:
        load_mosei_aligned(tmp_path, "train")
    msg = one_line(e.value)
    assert "video_train.h5" in msg and "no finite value" in msg
    # one whole column of NaN: also an error (a broken extractor, not a missing frame)
    v = np.random.default_rng(0).normal(size=(5, 20, 35)).astype(np.float32)
    v[:, :, 7] = np.nan
    write_h5(tmp_path / "video_train.h5", v)
    with pytest.raises(DatasetError, match="column 7 is NaN/inf in every sample"):
        load_mosei_aligned(tmp_path, "train")
    # scattered NaN / +inf are sanitised
    v[:, :, 7] = 1.0
    v[2, 4, 1] = np.nan
    v[3, 9, 2] = np.inf
    write_h5(tmp_path / "video_train.h5", v)
    ds = load_mosei_aligned(tmp_path, "train")
    assert ds.visual[2, 4, 1] == 0 and ds.visual[3, 9, 2] == 0 and np.isfinite(ds.visual).all()


def test_mosei_aligned_not_hdf5_and_not_a_directory(tmp_path):
    write_aligned(tmp_path)
    (tmp_path / "text_train_emb.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match="text_train_emb.h5: not an HDF5 file"):
        load_mosei_aligned(tmp_path, "train")
    with pytest.raises(DatasetError, match="not a directory"):
        load_mosei_aligned(tmp_path / "nope", "train")


def test_mosei_aligned_nan_labels_rejected(tmp_path):
    write_aligned(tmp_path)
    ey = np.zeros((5, 6), np.float32)
    ey[0, 0] = np.nan
    write_h5(tmp_path / "ey_train.h5", ey)
    with pytest.raises(DatasetError, match="ey_train.h5: emotion intensities must be finite"):
        load_mosei_aligned(tmp_path, "train")


# ---------------------------------------------------------------------------------------------
# 2. MulT pickles
# ---------------------------------------------------------------------------------------------
def write_iemocap_pickle(path, n=6, t=20):
    rng = np.random.default_rng(1)
    data = {}
    for s in ("train", "valid", "test"):
        lab = np.zeros((n, 4, 2), np.float32)
        lab[:, :, 0] = 1.0
        lab[0, 1] = [0, 1]  # happy
        lab[1, 3] = [0, 1]  # angry
        lab[2, 0] = [0, 1]  # neutral
        audio = rng.normal(size=(n, t, 74)).astype(np.float32)
        audio[1, 2, 0] = -np.inf
        data[s] = {
            "text": rng.normal(size=(n, t, 300)).astype(np.float32),
            "audio": audio,
            "vision": rng.normal(size=(n, t, 35)).astype(np.float32),
            "labels": lab,
        }
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    return data


def test_iemocap_pickle_four_classes_argmaxed(tmp_path):
    p = tmp_path / "iemocap_data.pkl"
    write_iemocap_pickle(p)
    ds = load_mult_pickle(tmp_path, "train")  # a directory with one known pickle
    assert ds.emotions == list(IEMOCAP_EMOTIONS) == ["neutral", "happy", "sad", "angry"]
    assert ds.labels[0].tolist() == [0, 1, 0, 0]
    assert ds.labels[1].tolist() == [0, 0, 0, 1]
    assert ds.labels[2].tolist() == [1, 0, 0, 0]
    assert not ds.labels[3:].any()
    assert ds.acoustic[1, 2, 0] == 0.0
    assert ds.ids[0] == "train:0"
    splits = load_mult_pickle_splits(p)
    assert set(splits) == {"train", "valid", "test"}


def test_mosei_senti_pickle_ids_and_sentiment_words(tmp_path):
    n = 4
    rng = np.random.default_rng(2)
    part = {
        "text": rng.normal(size=(n, 50, 300)).astype(np.float32),
        "audio": rng.normal(size=(n, 50, 74)).astype(np.float32),
        "vision": rng.normal(size=(n, 50, 35)).astype(np.float32),
        "labels": np.array([1.4, -0.6, 0.0, 3.0], np.float32).reshape(n, 1, 1),
        "id": np.array(
            [[b"vidA", b"1.5", b"4.0"], [b"vidA", b"4.0", b"9.2"], [b"vidB", b"0", b"2"], [b"vidC", b"3", b"7"]]
        ),
    }
    p = tmp_path / "mosei_senti_data.pkl"
    with open(p, "wb") as fh:
        pickle.dump({"train": part, "valid": part, "test": part}, fh)
    ds = load_mult_pickle(p, "valid")
    assert ds.emotions == ["positive", "negative"]
    assert ds.labels.tolist() == [[1, 0], [0, 1], [0, 0], [1, 0]]
    assert ds.ids[:2] == ["vidA[1.5,4.0]", "vidA[4.0,9.2]"]
    assert ds.seq_len == 50


def test_mult_pickle_errors(tmp_path):
    p = tmp_path / "iemocap_data.pkl"
    data = write_iemocap_pickle(p)
    with pytest.raises(DatasetError, match="no split 'dev'"):
        load_mult_pickle(p, "dev")
    del data["train"]["vision"]
    with open(p, "wb") as fh:
        pickle.dump(data, fh)
    with pytest.raises(DatasetError) as e:
        load_mult_pickle(p, "train")
    assert "iemocap_data.pkl" in one_line(e.value) and "lacks vision" in str(e.value)
    (tmp_path / "broken.pkl").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetError, match="broken.pkl: not a readable pickle"):
        load_mult_pickle(tmp_path / "broken.pkl", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no iemocap_data.pkl or mosei_senti_data.pkl"):
        load_mult_pickle(tmp_path / "empty", "train")


# ---------------------------------------------------------------------------------------------
# 3. computational sequences
# ---------------------------------------------------------------------------------------------
def test_real_csd_sample_reads(shared_dir):
    with read_csd(shared_dir / REAL_CSD) as seq:
        assert seq.root_name == "Opinion Segment Labels"
        assert seq.metadata["dimension names"] == ["sentiment score"]
        assert seq.metadata["dataset name"] == "CMU-MOSI"
        assert len(seq) == 93
        vid = seq.keys()[0]
        feats, iv = seq[vid]
        assert feats.shape[1] == 1 and iv.shape == (feats.shape[0], 2)
        assert np.all(iv[:, 1] >= iv[:, 0])
        layout = label_columns(seq.feature_dim(), seq.dimension_names)
    assert layout.kind == "sentiment" and layout.emotions == ["positive", "negative"]


def test_label_columns_mosei_layout():
    names = ["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"]
    lay = label_columns(7, names)
    assert lay.emotions == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert lay.columns == [3, 5, 6, 1, 2, 4]
    assert label_columns(7, None).columns == lay.columns  # MOSEI's known order when unnamed
    with pytest.raises(DatasetError, match="cannot tell emotion columns"):
        label_columns(2, ["x", "y"])


def test_average_over_intervals_matches_sdk_intersection_rule():
    frames = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    feats = np.array([[1.0], [2.0], [3.0], [-np.inf]])
    words = np.array(
        [
            [0.5, 2.0],  # overlaps frames 0 and 1; frame 2 only touches at 2.0
            [2.0, 2.5],  # frame 2 only
            [5.0, 6.0],  # no frame
            [3.2, 3.4],
        ]
    )  # inside the -inf frame -> 0
    avg, cnt = average_over_intervals(words, frames, feats)
    assert cnt.tolist() == [2, 1, 0, 1]
    assert avg[:, 0].tolist() == [1.5, 3.0, 0.0, 0.0]
    # frame order does not matter
    perm = [2, 0, 3, 1]
    avg2, cnt2 = average_over_intervals(words, frames[perm], feats[perm])
    assert np.array_equal(avg, avg2) and np.array_equal(cnt, cnt2)
    # overlapping (long) frames are found too
    avg3, cnt3 = average_over_intervals(
        np.array([[9.0, 9.5]]), np.array([[0.0, 10.0], [9.4, 9.45]]), np.array([[4.0], [6.0]])
    )
    assert cnt3.tolist() == [2] and avg3[0, 0] == 5.0


def test_intervals_within_sorted_and_strict():
    iv = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 2.0], [5.0, 6.0]])
    assert intervals_within([0.5, 3.5], iv).tolist() == [1, 2, 0]
    assert intervals_within([2.0, 3.0], iv).tolist() == []  # touching only


def make_sdk_dir(d, label_source=None, vids=("v1", "v2", "v3"), text_dim=8, seed=0, with_folds=True):
    """Word vectors, COVAREP, Facet and label .csd files in the SDK layout for a few videos.

    Word w of a video spans [0.5 w, 0.5 w + 0.4]; COVAREP frames are 10 ms, Facet
    frames 1/30 s, both cover [0, duration). Labels: MOSEI's 7 columns, or the
    segments of ``label_source`` (a real .csd) when given.
    """
    rng = np.random.default_rng(seed)
    text, ac, vi, lab = {}, {}, {}, {}
    real = read_csd(label_source) if label_source else None
    for j, vid in enumerate(vids):  # noqa: B007
        if real is not None:
            y, yiv = real[vid]
            duration = float(yiv[:, 1].max()) + 1.0
        else:
            duration = 12.0
            yiv = np.array([[0.0, 4.0], [4.0, 11.0], [11.5, 11.5]])  # the last one has zero length
            y = np.zeros((3, 7), np.float32)
            y[0, 1] = 1.0  # happy
            y[1, 3] = 0.67  # anger
            y[1, 6] = 0.33  # fear
        nw = int(duration / 0.5)
        wiv = np.stack([0.5 * np.arange(nw), 0.5 * np.arange(nw) + 0.4], axis=1)
        text[vid] = (rng.normal(size=(nw, text_dim)).astype(np.float32), wiv)
        nf = int(duration * 100)
        fiv = np.stack([np.arange(nf) / 100, (np.arange(nf) + 1) / 100], axis=1)
        cov = rng.normal(size=(nf, 74)).astype(np.float32)
        cov[::50, 0] = -np.inf
        ac[vid] = (cov, fiv)
        nv = int(duration * 30)
        viv = np.stack([np.arange(nv) / 30, (np.arange(nv) + 1) / 30], axis=1)
        vi[vid] = (rng.normal(size=(nv, 35)).astype(np.float32), viv)
        lab[vid] = (np.asarray(y, np.float32), np.asarray(yiv, np.float64))
    if real is not None:
        meta = dict(real.metadata)
        real.close()
    else:
        meta = {
            "root name": "All Labels",
            "dimension names": ["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"],
        }
    write_csd(d / "CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", text, {"root name": "glove_vectors"})
    write_csd(d / "CMU_MOSEI_COVAREP.csd", "COVAREP", ac, {"root name": "COVAREP"})
    write_csd(d / "CMU_MOSEI_VisualFacet42.csd", "FACET 4.2", vi, {"root name": "FACET 4.2"})
    write_csd(d / "CMU_MOSEI_Labels.csd", "All Labels", lab, meta)
    if with_folds:
        import json

        (d / "folds.json").write_text(json.dumps({"train": [vids[0]], "valid": [vids[1]], "test": list(vids[2:])}))
    return text, ac, vi, lab


def test_csd_build_aligns_words_and_segments(tmp_path):
    text, ac, vi, lab = make_sdk_dir(tmp_path)
    files = find_csd_files(tmp_path)
    assert files.labels.name == "CMU_MOSEI_Labels.csd" and files.folds is not None
    out = build_csd_splits(files, seq_len=6)
    tr = out["train"]
    # v1: two segments with non-zero length
    assert tr.ids == ["v1[0]", "v1[1]"]
    assert tr.emotions == list(MOSEI_EMOTIONS)
    assert tr.labels[0].tolist() == [0, 0, 0, 1, 0, 0]  # happy
    assert tr.labels[1].tolist() == [1, 0, 1, 0, 0, 0]  # anger, fear
    wv, wiv = text["v1"]
    # segment 0 = [0, 4): words 0..7 (word 8 starts at 4.0 and only touches) -> 8 words, kept last 6
    assert tr.step_masks["text"][0].all()
    assert np.allclose(tr.text[0], wv[2:8])
    # segment 1 = [4, 11): words 8..21 -> cropped to the last 6 = words 16..21
    assert np.allclose(tr.text[1], wv[16:22])
    # acoustic step = mean of the 10 ms frames inside the word's [0.5w, 0.5w+0.4], -inf counted as 0
    cov, fiv = ac["v1"]
    w = 21
    inside = (fiv[:, 0] < wiv[w, 1] - 1e-6) & (fiv[:, 1] > wiv[w, 0] + 1e-6)
    expect = np.nan_to_num(cov[inside], neginf=0.0).mean(axis=0)
    assert np.allclose(tr.acoustic[1, -1], expect, atol=1e-5)
    fv, viv = vi["v1"]
    inside = (viv[:, 0] < wiv[w, 1] - 1e-6) & (viv[:, 1] > wiv[w, 0] + 1e-6)
    assert np.allclose(tr.visual[1, -1], fv[inside].mean(axis=0), atol=1e-5)
    assert out["valid"].ids == ["v2[0]", "v2[1]"] and out["test"].ids == ["v3[0]", "v3[1]"]


def test_csd_short_segment_is_padded_in_front(tmp_path):
    make_sdk_dir(tmp_path)
    out = build_csd_splits(find_csd_files(tmp_path), seq_len=20)
    ds = out["train"]
    assert ds.step_masks["text"][0].tolist() == [False] * 12 + [True] * 8
    assert not ds.text[0, :12].any() and not ds.acoustic[0, :12].any()
    assert ds.modality_mask.all()


@pytest.mark.slow
def test_csd_with_real_label_file(shared_dir, tmp_path):
    """Real MOSI segment intervals and sentiment labels drive the segmentation."""
    vids = ("03bSnISJMiM", "0h-zjBukYpk", "1DmNV9C1hbY")
    _, _, _, lab = make_sdk_dir(tmp_path, label_source=shared_dir / REAL_CSD, vids=vids)
    out = build_csd_splits(find_csd_files(tmp_path), seq_len=20, video_ids=vids)
    total = sum(len(out[s]) for s in out)
    n_segments = sum(int(np.sum(np.abs(iv[:, 1] - iv[:, 0]) >= 1e-6)) for _, iv in lab.values())
    assert total == n_segments > 0
    ds = out["train"]
    assert ds.emotions == ["positive", "negative"]
    y, _ = lab[vids[0]]
    assert ds.labels[:, 0].tolist() == (y[: len(ds), 0] > 0).astype(float).tolist()
    assert ds.labels[:, 1].tolist() == (y[: len(ds), 0] < 0).astype(float).tolist()


def test_csd_hash_folds_when_none_given(tmp_path):
    make_sdk_dir(tmp_path, vids=tuple(f"vid{i}" for i in range(12)), with_folds=False)
    from model.sdk import CsdBuildReport

    rep = CsdBuildReport()
    out = build_csd_splits(find_csd_files(tmp_path), seq_len=5, report=rep)
    assert any("hash" in n for n in rep.notes)
    for split, ds in out.items():
        assert all(hash_fold(i.split("[")[0]) == split for i in ds.ids)


def test_find_csd_files_prefers_the_standard_names(tmp_path):
    make_sdk_dir(tmp_path, with_folds=False)
    for extra in (
        "CMU_MOSEI_TimestampedGloveVectors_with_SP.csd",
        "CMU_MOSEI_TimestampedWords.csd",
        "CMU_MOSEI_TimestampedLabels.csd",
    ):
        (tmp_path / extra).write_bytes((tmp_path / "CMU_MOSEI_Labels.csd").read_bytes())
    f = find_csd_files(tmp_path)
    assert f.text.name == "CMU_MOSEI_TimestampedWordVectors.csd"
    assert f.words.name == "CMU_MOSEI_TimestampedWords.csd"
    assert f.labels.name == "CMU_MOSEI_Labels.csd" and f.folds is None


def test_csd_drops_silence_tokens_when_words_are_given(tmp_path):
    text, _, _, _ = make_sdk_dir(tmp_path)
    wv, wiv = text["v1"]
    tokens = np.array([[b"sp" if 2 <= i < 7 else b"word"] for i in range(len(wv))])
    write_csd(tmp_path / "CMU_MOSEI_TimestampedWords.csd", "words", {"v1": (tokens, wiv)})
    ds = build_csd_splits(find_csd_files(tmp_path), seq_len=6)["train"]
    # segment 0 = words 0..7 minus the five 'sp' -> words 0, 1, 7, padded in front
    assert ds.step_masks["text"][0].tolist() == [False] * 3 + [True] * 3
    assert np.allclose(ds.text[0, 3:], wv[[0, 1, 7]])


def test_csd_errors(tmp_path):
    with pytest.raises(DatasetError, match="no .csd file for"):
        find_csd_files(tmp_path)
    make_sdk_dir(tmp_path)
    # a COVAREP file with the wrong width
    write_csd(
        tmp_path / "CMU_MOSEI_COVAREP.csd",
        "COVAREP",
        {"v1": (np.zeros((3, 70), np.float32), np.array([[0, 1], [1, 2], [2, 3]], float))},
    )
    with pytest.raises(DatasetError) as e:
        build_csd_splits(find_csd_files(tmp_path))
    assert "CMU_MOSEI_COVAREP.csd" in one_line(e.value) and "expected 74-d" in str(e.value)
    # an entry without intervals
    with h5py.File(tmp_path / "bad.csd", "w") as f:
        f.create_group("X/data/v1").create_dataset("features", data=np.zeros((2, 3)))
    with pytest.raises(DatasetError, match="entry 'v1' has no 'intervals'"):
        read_csd(tmp_path / "bad.csd")["v1"]
    with h5py.File(tmp_path / "two_roots.csd", "w") as f:
        f.create_group("a")
        f.create_group("b")
    with pytest.raises(DatasetError, match="expected one root group"):
        read_csd(tmp_path / "two_roots.csd")
    with pytest.raises(DatasetError, match="file not found"):
        read_csd(tmp_path / "missing.csd")


def test_load_folds_errors(tmp_path):
    p = tmp_path / "f.json"
    p.write_text('{"train": ["a"], "dev": ["b"]}')
    with pytest.raises(DatasetError, match="missing fold"):
        load_folds(p)
    p.write_text('{"train": ["a"], "dev": ["b"], "test": ["c"]}')
    assert load_folds(p)["valid"] == {"b"}
    p.write_text("nope")
    with pytest.raises(DatasetError, match="not JSON"):
        load_folds(p)
