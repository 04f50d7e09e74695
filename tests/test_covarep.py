"""COVAREP-74 adapter: column order, declared fills, and the mapping of live frames."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from feature_adapters.acoustic import NATIVE_NAMES, AcousticFrames, extract_acoustic
from feature_adapters.covarep import (
    COLUMN_SOURCES,
    COVAREP74,
    CovarepAdapter,
    CovarepAdapterError,
)
from feature_adapters.spaces import FeatureSpace, FeatureSpaceMismatch, check_compatible

SR = 16000


@pytest.fixture(scope="module")
def speech_frames(tmp_path_factory) -> AcousticFrames:
    import librosa

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    path = tmp_path_factory.mktemp("espeak") / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "Kids are talking by the door, and dogs are sitting."],
        check=True,
        capture_output=True,
    )
    y, sr = sf.read(path, dtype="float32")  # espeak-ng writes 22.05 kHz
    y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    return extract_acoustic(y)


def test_column_order_is_cmu_mosei_covarep():
    cols = COVAREP74.columns
    assert COVAREP74.name == "covarep-74" and COVAREP74.dim == 74 == len(cols) == len(set(cols))
    assert cols[:11] == ("F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak")
    assert cols[11] == "MCEP_0" and cols[35] == "MCEP_24"
    assert cols[36] == "HMPDM_0" and cols[60] == "HMPDM_24"
    assert cols[61] == "HMPDD_0" and cols[73] == "HMPDD_12"


def test_filled_columns_are_declared_and_the_rest_are_measured():
    assert set(COVAREP74.filled) <= set(COVAREP74.columns)
    measured = set(COVAREP74.columns) - set(COVAREP74.filled)
    assert measured == {"F0", "VUV", "peakSlope"} | {f"MCEP_{i}" for i in range(25)}
    assert set(COLUMN_SOURCES) == measured | {"H1H2"}  # H1H2: a declared proxy
    assert all(src in NATIVE_NAMES for src in COLUMN_SOURCES.values())
    assert all(desc.strip() for desc in COVAREP74.filled.values())


def test_space_round_trips_and_is_compatible_with_itself():
    again = FeatureSpace.from_dict(COVAREP74.to_dict())
    check_compatible("acoustic", COVAREP74, again)
    shuffled = FeatureSpace("covarep-74", 74, COVAREP74.columns[1:] + COVAREP74.columns[:1])
    with pytest.raises(FeatureSpaceMismatch):
        check_compatible("acoustic", COVAREP74, shuffled)


def test_adapt_maps_native_features_into_covarep_columns(speech_frames):
    x = CovarepAdapter().adapt(speech_frames)
    n = len(speech_frames)
    assert x.shape == (n, 74) and x.dtype == np.float32 and np.all(np.isfinite(x))
    col = {c: i for i, c in enumerate(COVAREP74.columns)}
    voiced = speech_frames.is_voiced
    assert 0 < voiced.sum() < n
    np.testing.assert_array_equal(x[:, col["VUV"]], voiced.astype(np.float32))
    # F0 in Hz where voiced, 0 where not
    np.testing.assert_array_equal(x[voiced, col["F0"]], speech_frames.column("f0")[voiced])
    assert np.all(x[voiced, col["F0"]] >= 50) and np.all(x[~voiced, col["F0"]] == 0)
    # mel-cepstra and peak slope copied at scale 1
    for i in range(25):
        np.testing.assert_array_equal(x[:, col[f"MCEP_{i}"]], speech_frames.column(f"mcep_{i}"))
    np.testing.assert_array_equal(x[:, col["peakSlope"]], speech_frames.column("peak_slope"))
    # H1H2 proxy only where voiced
    assert np.all(x[~voiced, col["H1H2"]] == 0) and np.any(x[voiced, col["H1H2"]] != 0)
    # every constant-filled column is exactly 0 in every frame
    const = [col[c] for c, d in COVAREP74.filled.items() if d.startswith("constant")]
    assert len(const) == 74 - 29
    assert np.all(x[:, const] == 0)


def test_keep_unvoiced_f0_option(speech_frames):
    x = CovarepAdapter(unvoiced_f0="keep").adapt(speech_frames)
    np.testing.assert_array_equal(x[:, 0], speech_frames.column("f0"))
    with pytest.raises(ValueError, match="unvoiced_f0"):
        CovarepAdapter(unvoiced_f0="nan")


def test_tone_and_silence_columns():
    t = np.arange(SR) / SR
    tone = CovarepAdapter().adapt(extract_acoustic((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)))
    assert np.median(tone[:, 0]) == pytest.approx(180, rel=0.02)
    assert tone[10:-10, 1].min() == 1.0
    silence = CovarepAdapter().adapt(extract_acoustic(np.zeros(SR, np.float32)))
    assert len(silence) > 0 and np.all(silence[:, :2] == 0) and np.all(np.isfinite(silence))


def test_empty_nan_and_wrong_frames():
    adapter = CovarepAdapter()
    assert adapter.adapt(AcousticFrames.empty()).shape == (0, 74)
    frames = extract_acoustic(np.zeros(SR // 2, np.float32))
    frames.features[3, 10] = np.nan
    assert np.all(np.isfinite(adapter(frames)))
    alien = AcousticFrames(np.zeros(2), np.zeros((2, 2), np.float32), ("pitch", "loudness"))
    with pytest.raises(CovarepAdapterError, match="covarep-74"):
        adapter.adapt(alien)


def test_the_dynamics_step_space_keeps_covarep74_first_and_names_its_28_columns():
    from feature_adapters.covarep import (
        ACOUSTIC_SPACES,
        COVAREP74_DYNAMICS,
        DYNAMICS_SOURCES,
        acoustic_space,
        step_dynamics,
    )

    sp = COVAREP74_DYNAMICS
    assert sp.name == "covarep-74+dynamics-28" and sp.dim == 102 and sp.columns[:74] == COVAREP74.columns
    assert sp.columns[74] == "F0_std" and sp.columns[74 + 14] == "F0_absdelta" and sp.columns[-1] == "MCEP_12_absdelta"
    assert set(ACOUSTIC_SPACES) == {"covarep-74", sp.name} and acoustic_space(sp.name) is sp
    # the dynamics are of the columns with a live analogue (not VUV, not the constant glottal/HMPD columns)
    dyn = step_dynamics(sp)
    assert [COVAREP74.columns[i] for i in dyn] == list(DYNAMICS_SOURCES) and step_dynamics(sp.name) == dyn
    assert not set(DYNAMICS_SOURCES) & {c for c, d in COVAREP74.filled.items() if d.startswith("constant")}
    assert step_dynamics(COVAREP74) == () and step_dynamics("an SDK space") == ()
    with pytest.raises(CovarepAdapterError, match="unknown acoustic space 'covarep-75'"):
        acoustic_space("covarep-75")
