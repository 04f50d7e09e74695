"""Acoustic frames: real and synthetic speech, tones, silence, noise, streaming == offline."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from feature_adapters.acoustic import (
    FRAME,
    HOP,
    NATIVE_NAMES,
    AcousticFrames,
    AcousticInputError,
    StreamingAcousticExtractor,
    extract_acoustic,
    n_frames_for,
)

SR = 16000


def _espeak(tmp_path_factory, text: str, pitch: int) -> np.ndarray:
    import librosa

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    path = tmp_path_factory.mktemp("espeak") / f"p{pitch}.wav"
    subprocess.run(["espeak-ng", "-p", str(pitch), "-w", str(path), text], check=True, capture_output=True)
    y, sr = sf.read(path, dtype="float32")  # espeak-ng writes 22.05 kHz
    y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def espeak_low(tmp_path_factory) -> np.ndarray:
    return _espeak(tmp_path_factory, "Hello there, this is a test of the acoustic feature extractor.", 20)


@pytest.fixture(scope="module")
def espeak_high(tmp_path_factory) -> np.ndarray:
    return _espeak(tmp_path_factory, "Hello there, this is a test of the acoustic feature extractor.", 80)


@pytest.fixture(scope="module")
def ravdess(shared_dir) -> dict[str, np.ndarray]:
    root = shared_dir / "data/ravdess/audio16k"
    out = {}
    clips = {
        "male": "Actor_01/03-01-01-01-01-01-01.flac",  # neutral
        "female": "Actor_02/03-01-01-01-01-01-02.flac",
        "male_angry": "Actor_01/03-01-05-02-01-01-01.flac",  # angry, strong
        "female_angry": "Actor_02/03-01-05-02-01-01-02.flac",
    }
    for key, rel in clips.items():
        y, sr = sf.read(root / rel, dtype="float32")
        assert sr == SR
        out[key] = y
    return out


def _tone(f0: float, seconds: float = 1.5, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def _stream(y: np.ndarray, sizes, t0: float | None = None) -> AcousticFrames:
    ex = StreamingAcousticExtractor(SR)
    parts, i, k = [], 0, 0
    while i < y.size:
        n = int(sizes[k % len(sizes)])
        parts.append(ex.push(y[i : i + n], t0=t0 if i == 0 else None))
        i, k = i + n, k + 1
    parts.append(ex.flush())
    return AcousticFrames.concat([p for p in parts if len(p)])


# ---------------------------------------------------------------------------- framing


@pytest.mark.slow
def test_frames_are_10ms_from_5ms_and_cover_the_signal(espeak_low):
    fr = extract_acoustic(espeak_low)
    assert fr.names == NATIVE_NAMES and fr.features.dtype == np.float32
    assert len(fr) == n_frames_for(espeak_low.size) == int(np.ceil((espeak_low.size - 80) / HOP))
    assert fr.times[0] == pytest.approx(0.005)
    np.testing.assert_allclose(np.diff(fr.times), 0.01, atol=1e-9)
    assert fr.times[-1] < espeak_low.size / SR
    assert fr.features.shape == (len(fr), len(NATIVE_NAMES))
    assert np.all(np.isfinite(fr.features))


# ---------------------------------------------------------------------------- pitch and voicing


@pytest.mark.parametrize("f0", [80.0, 150.0, 220.0, 440.0])
def test_pure_tone_f0_within_2_percent_and_voiced(f0):
    fr = extract_acoustic(_tone(f0))
    inner = slice(10, -10)
    assert fr.is_voiced[inner].all()
    est = fr.column("f0")[inner]
    assert np.max(np.abs(est / f0 - 1)) < 0.02
    assert np.all(fr.column("periodicity")[inner] > 0.9)


def test_harmonic_signal_h1h2():
    t = np.arange(2 * SR) / SR
    x = sum(a * np.sin(2 * np.pi * k * 120 * t) for k, a in [(1, 1.0), (2, 0.5), (3, 0.25)])
    fr = extract_acoustic((0.2 * x).astype(np.float32))
    assert np.median(fr.column("h1h2")) == pytest.approx(20 * np.log10(2), abs=0.5)


def test_silence_gives_unvoiced_floor_frames_without_nan():
    y = np.zeros(2 * SR, np.float32)
    fr = extract_acoustic(y)
    assert len(fr) == n_frames_for(y.size) > 0
    assert np.all(np.isfinite(fr.features))
    assert not fr.is_voiced.any()
    assert np.all(fr.energy_db == -100.0)
    assert np.all(fr.column("rms") == 0.0)


def test_white_noise_is_unvoiced_with_flat_cepstrum_and_rising_peak_slope():
    rng = np.random.default_rng(0)
    sigma = 0.1
    y = (sigma * rng.standard_normal(3 * SR)).astype(np.float32)
    fr = extract_acoustic(y)
    assert np.all(np.isfinite(fr.features))
    assert fr.is_voiced.mean() < 0.05
    # flat spectrum: higher cepstra ~ 0; band amplitude grows sqrt(2) per octave -> slope ~ log10(sqrt 2)
    mcep = fr.features[:, NATIVE_NAMES.index("mcep_1") :]
    assert np.max(np.abs(np.median(mcep, axis=0))) < 0.15
    assert 0.10 < np.median(fr.column("peak_slope")) < 0.18
    # c0 = mean log amplitude: white noise of variance s^2 through the unit-sum Hann window
    hann = np.hanning(512 + 2)[1:-1]
    expected_c0 = 0.5 * np.log(sigma**2 * np.sum((hann / hann.sum()) ** 2))
    assert np.median(fr.column("mcep_0")) == pytest.approx(expected_c0, abs=0.15)
    assert np.median(fr.energy_db) == pytest.approx(20 * np.log10(sigma), abs=0.5)


def test_gain_shifts_only_mcep0_by_log_gain(espeak_low):
    a = extract_acoustic(espeak_low)
    b = extract_acoustic(2.0 * espeak_low)
    loud = a.energy_db > -50
    i0 = NATIVE_NAMES.index("mcep_0")
    np.testing.assert_allclose(b.features[loud, i0] - a.features[loud, i0], np.log(2.0), atol=1e-3)
    np.testing.assert_allclose(b.features[loud, i0 + 1 :], a.features[loud, i0 + 1 :], atol=1e-3)
    np.testing.assert_array_equal(a.is_voiced, b.is_voiced)


def test_espeak_speech_voicing_and_pitch_follow_the_voice(espeak_low, espeak_high):
    low, high = extract_acoustic(espeak_low), extract_acoustic(espeak_high)
    for fr in (low, high):
        assert 0.3 < fr.is_voiced.mean() < 0.9  # speech has voiced and unvoiced frames
        assert not fr.is_voiced[:3].any()  # espeak starts with silence
    f_low = np.median(low.column("f0")[low.is_voiced])
    f_high = np.median(high.column("f0")[high.is_voiced])
    assert 60 < f_low < 130 and f_high > 1.3 * f_low


def test_ravdess_speech_pitch_by_speaker(ravdess):
    med = {}
    for who, y in ravdess.items():
        fr = extract_acoustic(y)
        assert np.all(np.isfinite(fr.features))
        assert 0.15 < fr.is_voiced.mean() < 0.85
        med[who] = float(np.median(fr.column("f0")[fr.is_voiced]))
        # voiced frames are louder than unvoiced ones
        assert np.median(fr.energy_db[fr.is_voiced]) > np.median(fr.energy_db[~fr.is_voiced]) + 10
    assert 70 < med["male"] < 180 and 150 < med["female"] < 300
    assert med["female"] > 1.4 * med["male"]
    # strong anger is shouted: much higher pitch than the same actor's neutral take
    assert med["male_angry"] > 1.5 * med["male"] and med["female_angry"] > 1.3 * med["female"]


# ---------------------------------------------------------------------------- streaming


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [[1600], [160], [7, 3001, 512, 1, 999], [100000]])
def test_streaming_matches_offline(espeak_low, sizes):
    off = extract_acoustic(espeak_low)
    st = _stream(espeak_low, sizes)
    assert len(st) == len(off)
    np.testing.assert_allclose(st.times, off.times, atol=1e-9)
    assert np.max(np.abs(st.features - off.features)) < 1e-4


def test_streaming_returns_only_new_frames_with_bounded_buffer(espeak_low):
    ex = StreamingAcousticExtractor(SR)
    seen = []
    for i in range(0, espeak_low.size, 1600):
        out = ex.push(espeak_low[i : i + 1600])
        assert ex.buffered_samples <= FRAME + 1600
        seen.append(out.times)
        # a frame is out once the 32 ms after its centre have arrived, not before
        if len(out):
            assert out.times[-1] + FRAME / 2 / SR - 0.005 <= (i + 1600) / SR + 1e-9
    times = np.concatenate(seen)
    assert np.all(np.diff(times) > 0)  # no frame emitted twice
    tail = ex.flush()
    assert len(times) + len(tail) == n_frames_for(espeak_low.size)


def test_streaming_resamples_other_rates_like_offline(espeak_low):
    import librosa

    y44 = librosa.resample(espeak_low, orig_sr=SR, target_sr=44100).astype(np.float32)
    off = extract_acoustic(y44, sr=44100)
    ex = StreamingAcousticExtractor(44100)
    parts = [ex.push(y44[i : i + 4410]) for i in range(0, y44.size, 4410)] + [ex.flush()]
    st = AcousticFrames.concat([p for p in parts if len(p)])
    assert len(st) == len(off)
    assert np.max(np.abs(st.features - off.features)) < 1e-3


def test_t0_sets_times_and_a_gap_restarts_the_stream():
    y = _tone(200.0, seconds=0.5)
    ex = StreamingAcousticExtractor(SR)
    first = ex.push(y, t0=10.0)
    assert first.times[0] == pytest.approx(10.005)
    # continuing at the expected time is not a gap
    more = ex.push(y, t0=10.5)
    assert more.times[0] > first.times[-1]
    # a jump of 5 s: the old stream is flushed, then frames restart at t0
    jumped = ex.push(y, t0=16.0)
    old, new = jumped.times[jumped.times < 16.0], jumped.times[jumped.times >= 16.0]
    assert len(old) > 0 and old[-1] < 11.0
    assert new[0] == pytest.approx(16.005)
    assert ex.time == pytest.approx(16.5)


# ---------------------------------------------------------------------------- bad input


def test_empty_and_nan_input_degrade_gracefully():
    assert len(extract_acoustic(np.zeros(0, np.float32))) == 0
    assert len(extract_acoustic(np.zeros(50, np.float32))) == 0  # shorter than half a hop
    ex = StreamingAcousticExtractor(SR)
    assert len(ex.push(np.zeros(0, np.float32))) == 0
    y = _tone(150.0, seconds=1.0)
    y[4000:6000] = np.nan
    y[100] = np.inf
    fr = extract_acoustic(y)
    assert len(fr) == n_frames_for(y.size)
    assert np.all(np.isfinite(fr.features))
    assert fr.is_voiced[60:].any()


def test_stereo_is_mixed_and_bad_shapes_raise():
    y = _tone(150.0, seconds=0.5)
    stereo = np.stack([y, y], axis=1)
    np.testing.assert_allclose(extract_acoustic(stereo).features, extract_acoustic(y).features, atol=1e-5)
    with pytest.raises(AcousticInputError, match="shape"):
        extract_acoustic(np.zeros((2, 2, 100), np.float32))
    with pytest.raises(AcousticInputError, match="sample rate"):
        extract_acoustic(y, sr=0)
