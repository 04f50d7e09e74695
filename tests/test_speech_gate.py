"""feature_adapters.speech_gate: Silero speech mask, run rules, streaming = batch, reasons, FrameGate."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from feature_adapters.acoustic import extract_acoustic
from feature_adapters.speech_gate import (
    HOP_S,
    REASON_NOT_SPEECH,
    REASON_SILENCE,
    WINDOW,
    FrameGate,
    SpeechGateError,
    SpeechGateOptions,
    SpeechMask,
    StreamingSpeechGate,
    speech_mask,
    speech_segments,
)
from feature_adapters.synthetic_audio import CATEGORIES, nonspeech_examples

SR = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """About 4 s of espeak-ng English at 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng missing")
    import soundfile as sf
    import soxr

    wav = tmp_path_factory.mktemp("gate") / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Kids are talking by the door. I cannot believe you did that."],
        check=True,
        capture_output=True,
    )
    x, sr = sf.read(wav, dtype="float32")
    return np.asarray(soxr.resample(x, sr, SR), np.float32)


class ScriptedSilero:
    """Stands in for the ONNX session: returns the next scripted probability per window."""

    def __init__(self, probs):
        self.probs = list(probs)
        self.i = 0

    def run(self, _outputs, feeds):
        n = feeds["input"].shape[0]
        assert feeds["input"].shape[1] == WINDOW + 64
        out = np.array(self.probs[self.i : self.i + n], np.float32)
        self.i += n
        return out, feeds["h"], feeds["c"]


def _decide(probs, **opt):
    gate = StreamingSpeechGate(SpeechGateOptions(**opt), session=ScriptedSilero(probs))
    x = np.full(len(probs) * WINDOW, 0.1, np.float32)  # loud enough not to be silence
    return SpeechMask.concat([gate.push(x), gate.flush()])


# --------------------------------------------------------------------------- options and rules


@pytest.mark.parametrize(
    "kw",
    [
        dict(threshold=0.0),
        dict(neg_threshold=0.6),
        dict(peak_threshold=0.4),
        dict(min_speech_ms=-1.0),
        dict(hangover_ms=float("nan")),
        dict(long_speech_ms=64.0, min_speech_ms=128.0),
        dict(silence_dbfs=float("inf")),
    ],
)
def test_bad_options_are_one_line_errors(kw):
    with pytest.raises(SpeechGateError) as ei:
        SpeechGateOptions(**kw)
    assert "\n" not in str(ei.value)


def test_short_and_lukewarm_runs_are_not_speech():
    o = dict(min_speech_ms=128, peak_threshold=0.85, long_speech_ms=384, hangover_ms=0)
    # 3 windows (96 ms) at 0.99: too short; 6 windows at 0.7: too weak and too short for that;
    # 5 windows up to 0.95: speech; 12 windows (384 ms) at 0.7: long enough to be speech anyway
    probs = (
        [0.0] * 3
        + [0.99] * 3
        + [0.0] * 3
        + [0.7] * 6
        + [0.0] * 3
        + [0.6, 0.9, 0.95, 0.6, 0.5]
        + [0.0] * 3
        + [0.7] * 12
        + [0.0] * 2
    )
    m = _decide(probs, **o)
    assert len(m) == len(probs)
    expect = np.zeros(len(probs), bool)
    expect[18:23] = True
    expect[26:38] = True
    assert m.speech.tolist() == expect.tolist()


def test_hysteresis_and_hangover():
    # starts at >= 0.5, continues while >= 0.35, then 2 windows (64 ms) of hangover
    probs = [0.4, 0.9, 0.9, 0.9, 0.9, 0.4, 0.36, 0.2, 0.2, 0.2, 0.2]
    m = _decide(probs, min_speech_ms=64, hangover_ms=64)
    assert m.speech.tolist() == [False] + [True] * 6 + [True, True] + [False, False]


def test_decisions_wait_at_most_long_speech_ms():
    probs = [0.6] * 40 + [0.0] * 5  # a long lukewarm run: speech once it has lasted 384 ms (12 windows)
    gate = StreamingSpeechGate(SpeechGateOptions(hangover_ms=0), session=ScriptedSilero(probs))
    for k in range(len(probs)):
        gate.push(np.full(WINDOW, 0.1, np.float32))
        assert gate.decided_until >= (k + 1 - 11) * HOP_S - 1e-9  # at most 11 windows undecided
        assert gate.decided_until <= (k + 1) * HOP_S + 1e-9
    m = gate.mask
    assert m.speech[:40].all() and not m.speech[40:].any()


# --------------------------------------------------------------------------- the real detector


def test_scores_equal_faster_whispers_own_silero_call(speech):
    from faster_whisper.vad import get_vad_model

    x = speech[: 50 * WINDOW + 100]
    ours = speech_mask(x).prob
    theirs = get_vad_model()(np.pad(x, (0, WINDOW - x.size % WINDOW)))
    assert ours.shape == (51,)
    assert np.allclose(ours, np.asarray(theirs).reshape(-1), atol=1e-6)


def test_espeak_speech_is_kept(speech):
    m = speech_mask(speech)
    segs = speech_segments(speech)
    assert segs and segs == m.segments()
    assert m.reason() is None
    # the voiced frames of the speech (what the acoustic modality reads) are almost all kept
    frames = extract_acoustic(speech, SR)
    voiced = frames.is_voiced & (frames.energy_db > -45)
    assert voiced.sum() > 100
    assert m.at(frames.times)[voiced].mean() > 0.9


@pytest.mark.parametrize("category", list(CATEGORIES))
def test_synthetic_nonspeech_is_rejected(category):
    for _cat, x in nonspeech_examples(2, 3.0, seed=7, categories=[category]):
        m = speech_mask(x)
        assert not m.speech.any(), category
        assert m.segments() == []
        assert m.reason() == (REASON_SILENCE if category == "silence" else REASON_NOT_SPEECH)


def test_streaming_decides_exactly_what_the_batch_function_does(speech):
    rng = np.random.default_rng(3)
    noise = nonspeech_examples(1, 2.0, seed=1, categories=["pink noise"])[0][1]
    tone = nonspeech_examples(1, 1.5, seed=1, categories=["harmonic tone"])[0][1]
    x = np.concatenate([noise, speech, tone, speech[:SR]]).astype(np.float32)
    batch = speech_mask(x, t0=5.0)
    assert batch.speech.any() and not batch.speech.all()
    for _ in range(3):
        gate = StreamingSpeechGate(history_s=float("inf"))
        parts, i = [], 0
        while i < x.size:
            n = int(rng.integers(1, 5000))
            parts.append(gate.push(x[i : i + n], t0=5.0 + i / SR))
            assert gate.decided_until <= 5.0 + (i + n) / SR + 1e-9
            i += n
        parts.append(gate.flush())
        stream = SpeechMask.concat(parts)
        assert np.allclose(stream.starts, batch.starts)
        assert stream.speech.tolist() == batch.speech.tolist()
        assert np.allclose(stream.prob, batch.prob, atol=1e-6)


def test_other_sample_rates_are_resampled(speech):
    import soxr

    x48 = np.asarray(soxr.resample(speech, SR, 48000), np.float32)
    a, b = speech_mask(speech), speech_mask(x48, 48000)
    assert abs(len(a) - len(b)) <= 1
    n = min(len(a), len(b))
    assert np.mean(a.speech[:n] == b.speech[:n]) > 0.95


def test_history_is_bounded():
    gate = StreamingSpeechGate(history_s=2.0)
    chunk = np.zeros(1600, np.float32)
    for _ in range(300):  # 30 s
        gate.push(chunk)
    assert len(gate.mask) <= int(np.ceil(2.0 / HOP_S)) + int(np.ceil(0.1 / HOP_S)) + 1  # 2 s + the last chunk
    assert gate.mask.end == pytest.approx(gate.decided_until)
    assert gate.decided_until == pytest.approx(30.0, abs=HOP_S)


def test_reset_starts_a_new_stream_and_a_whole_signal_keeps_all_decisions(speech):
    gate = StreamingSpeechGate(history_s=1.0)
    gate.push(speech)  # one push: every decision is kept, whatever history_s
    gate.flush()
    assert len(gate.mask) == len(speech_mask(speech)) and gate.mask.reason() is None
    gate.reset(t0=0.0)
    assert len(gate.mask) == 0 and gate.decided_until == 0.0
    gate.push(np.zeros(SR, np.float32), t0=0.0)
    assert gate.mask.starts[0] == 0.0 and gate.mask.reason() == REASON_SILENCE


def test_a_gap_in_time_starts_a_new_stream():
    gate = StreamingSpeechGate()
    gate.push(np.zeros(8000, np.float32), t0=10.0)
    new = gate.push(np.zeros(8000, np.float32), t0=20.0)  # 10 s later: the first stream is flushed
    assert new.starts[0] < 10.5 and new.starts[-1] >= 20.0
    assert gate.decided_until > 20.0


def test_bad_input_is_a_one_line_error():
    with pytest.raises(SpeechGateError):
        speech_mask(np.zeros((2, 100), np.float32))
    with pytest.raises(SpeechGateError):
        StreamingSpeechGate(sr=0)
    m = speech_mask(np.full(SR, np.nan, np.float32))  # non-finite samples are treated as silence
    assert not m.speech.any() and m.reason() == REASON_SILENCE


# --------------------------------------------------------------------------- mask and FrameGate


def test_mask_lookup_segments_and_reasons():
    starts = np.arange(6) * HOP_S
    m = SpeechMask(starts, np.array([0, 1, 1, 0, 0, 1], bool), np.array([-90, -20, -20, -20, -90, -20.0]), np.zeros(6))
    assert m.at([0.0, HOP_S + 0.001, 3 * HOP_S + 0.01, 6 * HOP_S + 0.01, -1.0]).tolist() == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert m.segments() == [
        (pytest.approx(HOP_S), pytest.approx(3 * HOP_S)),
        (pytest.approx(5 * HOP_S), pytest.approx(6 * HOP_S)),
    ]
    assert m.reason(3 * HOP_S, 4 * HOP_S) == REASON_NOT_SPEECH
    assert m.reason(4 * HOP_S, 5 * HOP_S) == REASON_SILENCE
    assert m.reason(0.0, 2 * HOP_S) is None
    assert m.reasons([4 * HOP_S, 5 * HOP_S], HOP_S) == [REASON_NOT_SPEECH, REASON_SILENCE]


def test_frame_gate_holds_frames_until_decided_and_flush_releases_all(speech):
    from feature_adapters.acoustic import StreamingAcousticExtractor

    ex = StreamingAcousticExtractor(SR)
    fg = FrameGate(StreamingSpeechGate())
    got_t, got_s = [], []
    for i in range(0, speech.size, 1600):
        blk = speech[i : i + 1600]
        frames, flags = fg.push(blk, i / SR, ex.push(blk, t0=i / SR))
        assert len(frames) == len(flags)
        assert (frames.times < fg.gate.decided_until).all()
        got_t.append(frames.times)
        got_s.append(flags)
    frames, flags = fg.flush(ex.flush())
    got_t.append(frames.times)
    got_s.append(flags)
    t, s = np.concatenate(got_t), np.concatenate(got_s)
    offline = extract_acoustic(speech, SR)
    assert np.allclose(t, offline.times)  # every frame once, in order
    assert s.tolist() == speech_mask(speech).at(offline.times).tolist()


def test_frame_gate_without_a_gate_passes_frames_through():
    fg = FrameGate(None)
    frames = extract_acoustic(np.zeros(SR, np.float32), SR)
    out, flags = fg.push(np.zeros(SR, np.float32), 0.0, frames)
    assert out is frames and flags is None
    assert fg.flush(frames)[1] is None and fg.reason(0.0, 1.0) is None
