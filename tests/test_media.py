"""livemer.media: probing, one-line MediaErrors, frame decoding and sampling, folder expansion."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from livemer.errors import LivemerError
from livemer.media import (
    MediaError,
    VideoReader,
    expand_inputs,
    is_sampled,
    load_audio_track,
    parse_probe,
    probe,
    sample_times,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    av = d / "av.mp4"  # 2 s, 25 fps, 160x120, with a 440 Hz tone; moov at the end (default)
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2:sample_rate=44100",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(av),
    )
    fast = d / "fast.mp4"
    ffmpeg("-i", str(av), "-c", "copy", "-movflags", "+faststart", str(fast))
    silent = d / "silent.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=25:duration=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(silent),
    )
    wav = d / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:duration=1.5:sample_rate=22050", str(wav))
    png = d / "still.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=1:duration=1", "-frames:v", "1", str(png))
    text = d / "notes.mp4"
    text.write_text("this is a text file with an mp4 name\n" * 20)
    data = av.read_bytes()
    trunc = d / "truncated.mp4"  # moov atom (at the end) cut off
    trunc.write_bytes(data[: len(data) // 2])
    fdata = fast.read_bytes()
    trunc_fast = d / "truncated_fast.mp4"  # index intact, media data cut
    trunc_fast.write_bytes(fdata[: int(len(fdata) * 0.4)])
    empty = d / "empty.wav"
    empty.write_bytes(b"")
    return {
        "av": av,
        "fast": fast,
        "silent": silent,
        "wav": wav,
        "png": png,
        "text": text,
        "trunc": trunc,
        "trunc_fast": trunc_fast,
        "empty": empty,
        "dir": d,
    }


@pytest.mark.slow
def test_probe_video_with_audio(media):
    info = probe(media["av"])
    assert info.has_video and info.has_audio and info.kind == "video"
    assert info.size == (160, 120)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_rate == "25/1"
    assert info.n_frames == 50
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.sample_rate == 44100
    assert "160x120" in info.describe()


@pytest.mark.slow
def test_probe_video_without_audio_and_audio_only(media):
    silent = probe(media["silent"])
    assert silent.has_video and not silent.has_audio
    wav = probe(media["wav"])
    assert wav.has_audio and not wav.has_video and wav.kind == "audio"
    assert wav.duration == pytest.approx(1.5, abs=0.05)
    assert wav.fps is None and wav.size is None


@pytest.mark.parametrize(
    "key,expect",
    [
        ("text", "not a media file"),
        ("trunc", "truncated or corrupt"),
        ("png", "still image"),
        ("empty", "empty file"),
    ],
)
@pytest.mark.slow
def test_probe_bad_files_give_one_line_errors(media, key, expect):
    with pytest.raises(MediaError) as ei:
        probe(media[key])
    msg = str(ei.value)
    assert expect in msg
    assert str(media[key]) in msg and "\n" not in msg
    assert isinstance(ei.value, LivemerError) and ei.value.exit_code == 2


def test_probe_missing_and_directory(media, tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="not a regular file"):
        probe(media["dir"])


def test_parse_probe_ignores_cover_art_and_needs_a_stream(tmp_path):
    data = {
        "streams": [
            {"codec_type": "audio", "codec_name": "mp3", "sample_rate": "44100", "duration": "3.5"},
            {"codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}},
        ],
        "format": {"format_name": "mp3", "duration": "3.5"},
    }
    info = parse_probe(tmp_path / "song.mp3", data)
    assert info.has_audio and not info.has_video and info.duration == pytest.approx(3.5)
    with pytest.raises(MediaError, match="no video or audio stream"):
        parse_probe(tmp_path / "x.bin", {"streams": [{"codec_type": "data"}], "format": {}})
    with pytest.raises(MediaError, match="no duration"):
        parse_probe(tmp_path / "x.wav", {"streams": [{"codec_type": "audio"}], "format": {}})


@pytest.mark.slow
def test_video_reader_decodes_every_frame_in_order(media):
    info = probe(media["av"])
    with VideoReader(info) as r:
        got = list(r.frames())
        r.check_complete()
    assert len(got) == 50 and r.decoded == 50
    idx = [i for i, _, _ in got]
    assert idx == list(range(50))
    assert got[25][1] == pytest.approx(1.0)
    assert got[0][2].shape == (120, 160, 3) and got[0][2].dtype == np.uint8
    # testsrc frames differ from each other
    assert not np.array_equal(got[0][2], got[10][2])


@pytest.mark.slow
def test_video_reader_skips_unwanted_frames_but_counts_them(media):
    info = probe(media["av"])
    with VideoReader(info) as r:
        got = [i for i, _, _ in r.frames(keep=lambda k: is_sampled(k, 25.0, 10.0))]
    assert r.decoded == 50
    assert got == sample_times(50, 25.0, 10.0).tolist()


@pytest.mark.slow
def test_truncated_faststart_file_is_detected_while_decoding(media):
    info = probe(media["trunc_fast"])  # the index is intact, so probing succeeds
    with VideoReader(info) as r:
        list(r.frames())
        with pytest.raises(MediaError, match="truncated or corrupt video"):
            r.check_complete()


@pytest.mark.slow
def test_video_reader_refuses_audio_only(media):
    with pytest.raises(MediaError, match="no video stream"):
        VideoReader(probe(media["wav"]))


def test_sample_times_rate_and_spread():
    assert sample_times(10, 25.0, None).tolist() == list(range(10))
    assert sample_times(10, 25.0, 30.0).tolist() == list(range(10))
    idx = sample_times(250, 25.0, 10.0)  # 10 s at 25 fps -> 10 per second
    assert len(idx) == 100
    gaps = np.diff(idx)
    assert set(gaps.tolist()) <= {2, 3}  # evenly spread
    assert len(sample_times(240, 24.0, 5.0)) == 50
    with pytest.raises(ValueError):
        sample_times(10, 25.0, 0.0)
    # the streaming predicate agrees with the vectorised one
    assert [i for i in range(240) if is_sampled(i, 23.976, 7.0)] == sample_times(240, 23.976, 7.0).tolist()


@pytest.mark.slow
def test_load_audio_track(media):
    y = load_audio_track(probe(media["av"]))
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size / 16000 == pytest.approx(2.0, abs=0.1)
    assert 0.08 < float(np.abs(y).max()) <= 1.0  # the tone (lavfi sine: amplitude 1/8) is there


def test_expand_inputs_folders_and_duplicates(media, tmp_path):
    d = tmp_path / "set"
    (d / "sub").mkdir(parents=True)
    shutil.copy(media["av"], d / "b.mp4")
    shutil.copy(media["wav"], d / "sub" / "a.wav")
    (d / "readme.txt").write_text("not media")
    (d / "b.annotated.mp4").write_bytes(b"x")  # our own output is not an input
    out = expand_inputs([d, d / "b.mp4"])
    assert [p.name for p in out] == ["b.mp4", "a.wav"]
    assert expand_inputs([media["text"]]) == [media["text"]]  # named files are kept whatever they hold
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(MediaError, match="no video or audio files"):
        expand_inputs([empty])


def test_an_audio_file_libsndfile_reads_is_probed_without_ffprobe(media, tmp_path, monkeypatch):
    import livemer.media as m

    quick = m.probe_soundfile(media["wav"])
    assert quick is not None and quick.has_audio and not quick.has_video
    monkeypatch.setattr(m, "probe_soundfile", lambda p: None)
    full = m.probe(media["wav"])  # ffprobe's answer
    assert quick.duration == pytest.approx(full.duration, abs=1e-3)
    assert quick.audio_duration == pytest.approx(full.audio_duration, abs=1e-3)
    assert (quick.sample_rate, quick.audio_codec, quick.format_name) == (full.sample_rate, full.audio_codec, "wav")
    monkeypatch.undo()
    # not audio libsndfile reads: ffprobe decides, with its one-line errors
    fake = tmp_path / "fake.wav"
    fake.write_text("just some text, not audio\n" * 20)
    assert m.probe_soundfile(fake) is None
    with pytest.raises(MediaError, match="not a media file"):
        m.probe(fake)
    assert m.probe_soundfile(media["silent"]) is None  # a video: never libsndfile's
