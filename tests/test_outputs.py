"""livemer.outputs: the per-input CSV/JSON/PNG/MP4 and index.csv, written atomically (no models needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from feature_adapters.face import FaceResult
from feature_adapters.text import TimedWord
from livemer import outputs as out
from livemer.media import probe
from livemer.offline import FaceTrack, FileResult, summarise

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")

EMOS = ["happy", "sad", "bored"]


def ffprobe_streams(path: Path) -> list[dict]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-print_format", "json", "-show_streams", str(path)],
        capture_output=True,
        check=True,
    )
    return json.loads(proc.stdout)["streams"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("outclip") / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x180:rate=25:duration=1.2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:duration=1.2:sample_rate=16000",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(p),
        ],
        check=True,
    )
    return p


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("outwav") / "voice.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=200:duration=1.0:sample_rate=16000",
            str(p),
        ],
        check=True,
    )
    return p


def make_result(path: Path, hop: float = 0.2, with_face: bool = True) -> FileResult:
    info = probe(path)
    dur = info.duration
    times = hop * np.arange(1, int(round(dur / hop)) + 1)
    n, k = len(times), len(EMOS)
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.1, 0.9, size=(n, k))
    probs[0] = np.nan  # nothing observed yet
    used = ["" if i == 0 else ("tav" if i % 2 else "ta") for i in range(n)]
    scores = {m: rng.normal(size=(n, k)) for m in ("text", "acoustic", "visual")}
    for m in scores:
        for i, u in enumerate(used):
            if m[0] not in u:
                scores[m][i] = np.nan
    contrib = {m: v * 0.5 for m, v in scores.items()}
    face = None
    if with_face and info.has_video:
        ft = np.arange(0, dur, 0.1)
        res = [FaceResult(face_found=True, box=(40.0, 30.0, 140.0, 150.0), aus={"AU12": 0.8, "AU06": 0.5}) for _ in ft]
        face = FaceTrack(
            ft,
            np.ones(len(ft), bool),
            np.zeros((len(ft), 35), np.float32),
            np.ones(len(ft), bool),
            res,
            "mediapipe",
            30,
        )
    words = [TimedWord("what", 0.3, 0.5, 0.9), TimedWord("a", 0.5, 0.55, 0.9), TimedWord("day!", 0.6, 0.9, 0.8)]
    return FileResult(
        path=path,
        info=info,
        duration=dur,
        emotions=list(EMOS),
        user_added=["bored"],
        modalities_requested=("text", "acoustic", "visual"),
        times=times,
        window_start=np.where(np.arange(n) == 0, np.nan, np.maximum(times - 1.0, 0.0)),
        probabilities=probs,
        modality_scores=scores,
        contributions=contrib,
        modalities_used=used,
        face_present=np.arange(n) % 3 != 0,
        voice_present=np.arange(n) > 1,
        words=["" if i < 3 else "what a" for i in range(n)],
        new_words=["", "", "what", "a", "day", ""][:n],
        transcript=words,
        face=face,
        masked={} if info.has_video else {"visual": "no video stream"},
        notices=[] if info.has_video else ["audio only: the visual modality is masked"],
        timings={"total": 1.0},
        settings={"hop": hop, "face_fps": 10.0},
    )


# --------------------------------------------------------------------------- helpers


def test_unique_stems_avoid_clashes_and_index():
    stems = out.unique_stems([Path("a/x.mp4"), Path("b/x.mp4"), Path("index.wav"), Path("c/X.wav"), Path("y.mp3")])
    assert stems == ["x", "x-2", "index-2", "X-3", "y"]


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with out.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temp file left
    with out.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_check_writable(tmp_path):
    made = out.check_writable(tmp_path / "x" / "y")
    assert made.is_dir() and not list(made.iterdir())
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(out.OutputError, match="not a folder"):
        out.check_writable(blocker)
    with pytest.raises(out.OutputError, match="cannot create the folder") as ei:
        out.check_writable(blocker / "sub")
    assert "\n" not in str(ei.value) and ei.value.exit_code == 2


@pytest.mark.slow
def test_overlay_face_box_is_interpolated_between_samples(clip):
    r = make_result(clip)
    r.face.results[3] = FaceResult(face_found=True, box=(60.0, 30.0, 160.0, 150.0), aus={"AU12": 0.1})
    tl = out._OverlayTimeline(r, 1.0)
    t2, t3 = r.face.times[2], r.face.times[3]
    mid = tl.state(0.5 * (t2 + t3))
    assert mid.face_box == pytest.approx((50.0, 30.0, 150.0, 150.0))
    assert mid.aus == {"AU12": 0.8, "AU06": 0.5}  # AUs are the latest sample's
    assert tl.state(t3).face_box == pytest.approx((60.0, 30.0, 160.0, 150.0))
    r.face.results[4] = FaceResult(face_found=False)
    assert tl.state(0.5 * (r.face.times[3] + r.face.times[4])).face_box == pytest.approx((60.0, 30.0, 160.0, 150.0))
    st = tl.state(r.face.times[4] + 0.01)
    assert st.face_box is None and st.face_present is False


def test_smoothed_series():
    p = np.array([[0.0], [1.0], [np.nan], [1.0]])
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert np.allclose(out.smoothed_series(p, t, 0.0), p, equal_nan=True)  # no smoothing: raw values
    s = out.smoothed_series(p, t, 1.0)
    a = 1 - np.exp(-1.0)
    assert s[1, 0] == pytest.approx(a)
    assert s[2, 0] == pytest.approx(a)  # an empty window keeps the last value (and time moves on, as live)
    assert s[3, 0] == pytest.approx(a + (1 - np.exp(-1.0)) * (1 - a))
    assert np.isnan(out.smoothed_series(np.array([[np.nan], [0.5]]), np.array([0.0, 1.0]), 1.0)[0, 0])


# --------------------------------------------------------------------------- files


@pytest.mark.slow
def test_csv_loads_in_pandas_with_every_column(clip, tmp_path):
    import pandas as pd

    r = make_result(clip)
    path = out.write_csv(r, tmp_path / "clip.csv")
    df = pd.read_csv(path, keep_default_na=True)
    assert list(df.columns) == out.result_columns(EMOS)
    assert {"p_happy", "text_sad", "acoustic_bored", "visual_happy", "face_present", "words"} <= set(df.columns)
    assert len(df) == r.n
    assert np.allclose(df["end"], r.times)
    assert np.allclose(df["p_sad"], r.probabilities[:, 1], equal_nan=True, atol=1e-6)
    assert np.isnan(df.loc[0, "p_happy"]) and np.isnan(df.loc[0, "start"])
    assert df["face_present"].tolist() == r.face_present.astype(int).tolist()
    # a modality's score is empty exactly where it was not used
    visual_used = df["modalities_used"].fillna("").str.contains("v")
    assert df.loc[visual_used, "visual_happy"].notna().all() and df.loc[~visual_used, "visual_happy"].isna().all()
    assert df["new_words"].fillna("").tolist()[2:5] == ["what", "a", "day"]


@pytest.mark.slow
def test_json_summary_is_strict_json_and_agrees(clip, tmp_path):
    r = make_result(clip)
    doc = out.result_summary(r, outputs=out.output_paths(tmp_path, "clip"), extra_settings={"x": 1})
    path = out.write_json(doc, tmp_path / "clip.json")
    back = json.loads(path.read_text())
    expect = summarise(EMOS, r.probabilities, 0.2)
    for e in EMOS:
        assert back["summary"][e] == pytest.approx(expect[e])
    assert back["windows"] == r.n and back["hop"] == 0.2
    assert back["transcript"] == "what a day!"
    assert back["words"][2] == {"word": "day!", "start": 0.6, "end": 0.9, "probability": 0.8}
    assert back["modalities"] == {"requested": "tav", "present": "tav", "masked": {}}
    assert back["settings"]["x"] == 1 and back["settings"]["face_fps"] == 10.0
    assert back["user_added"] == ["bored"]
    assert back["versions"]["livemer"] and "torch" in back["versions"] and "mediapipe" in back["versions"]
    assert back["face"]["frames_analysed"] == len(r.face.times)
    assert back["outputs"]["video"].endswith("clip.annotated.mp4")
    top = back["top_emotion"]
    assert top["mean"] == pytest.approx(max(v["mean"] for v in back["summary"].values()))


@pytest.mark.slow
def test_timeline_png(clip, tmp_path):
    import cv2

    r = make_result(clip)
    path = out.write_timeline(r, tmp_path / "clip.timeline.png")
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (520, 1200, 3)
    assert img.std() > 10  # not blank


@pytest.mark.slow
def test_annotated_video_keeps_frames_size_and_audio(clip, tmp_path):
    import cv2

    r = make_result(clip)
    ticks = []
    path = out.write_annotated_video(r, tmp_path / "clip.annotated.mp4", tau=0.5, progress=ticks.append)
    streams = ffprobe_streams(path)
    v = [s for s in streams if s["codec_type"] == "video"]
    a = [s for s in streams if s["codec_type"] == "audio"]
    assert len(v) == 1 and len(a) == 1
    assert v[0]["codec_name"] == "h264" and (v[0]["width"], v[0]["height"]) == (320, 180)
    assert int(v[0]["nb_read_frames"]) == 30  # 1.2 s at 25 fps, every frame kept
    assert sum(ticks) == pytest.approx(r.duration, abs=0.05)
    # the overlay is burned in: the annotated frame differs from the source frame, most in the bar panel
    src = cv2.VideoCapture(str(clip))
    ann = cv2.VideoCapture(str(path))
    for _ in range(20):
        ok1, f1 = src.read()
        ok2, f2 = ann.read()
    assert ok1 and ok2
    diff = np.abs(f1.astype(int) - f2.astype(int)).mean(axis=2)
    assert diff[:, 200:].mean() > 20  # bars (right panel)
    assert diff[:, 200:].mean() > 3 * diff[60:120, 150:190].mean() + 1  # more than codec noise elsewhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.annotated.mp4"]


@pytest.mark.slow
def test_annotated_video_of_audio_only_is_a_canvas(wav, tmp_path):
    r = make_result(wav)
    path = out.write_annotated_video(r, tmp_path / "voice.annotated.mp4")
    streams = ffprobe_streams(path)
    v = [s for s in streams if s["codec_type"] == "video"][0]
    assert (v["width"], v["height"]) == out.AUDIO_ONLY_SIZE
    assert int(v["nb_read_frames"]) == int(round(r.duration * out.AUDIO_ONLY_FPS))
    assert any(s["codec_type"] == "audio" for s in streams)


@pytest.mark.slow
def test_failed_video_leaves_nothing(clip, tmp_path, monkeypatch):
    r = make_result(clip)
    monkeypatch.setattr(out, "_encoder_args", lambda: ["-c:v", "no-such-encoder"])
    with pytest.raises(out.OutputError, match="ffmpeg could not write"):
        out.write_annotated_video(r, tmp_path / "clip.annotated.mp4")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_index_rows_for_ok_and_failed_inputs(clip, wav, tmp_path):
    import pandas as pd

    r1 = make_result(clip)
    r2 = make_result(wav)
    rows = [
        out.index_row(clip, r1, outputs=out.output_paths(tmp_path, "clip")),
        out.index_row(tmp_path / "bad.mp4", error="bad.mp4: truncated or corrupt media file"),
        out.index_row(wav, r2),
    ]
    path = out.write_index(rows, EMOS, tmp_path / "index.csv")
    df = pd.read_csv(path)
    assert df["status"].tolist() == ["ok", "error", "ok"]
    assert df.loc[1, "message"].startswith("bad.mp4: truncated")
    assert df.loc[0, "modalities"] == "tav" and df.loc[2, "modalities"] == "ta"
    assert df.loc[2, "has_video"] == 0 and "visual: no video stream" in df.loc[2, "masked"]
    assert df.loc[0, "mean_sad"] == pytest.approx(np.nanmean(r1.probabilities[:, 1]), abs=1e-5)
    assert df.loc[0, "top_emotion"] == r1.top_emotion()[0]
    assert df.loc[0, "csv"] == "clip.csv"
    assert list(df.columns[: len(out.index_columns(EMOS))]) == out.index_columns(EMOS)


def test_outputs_never_half_written_on_permission_error(clip, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    r = make_result(clip)
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(out.OutputError):
            out.write_csv(r, d / "clip.csv")
    finally:
        d.chmod(0o700)
