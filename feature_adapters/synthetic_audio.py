"""Synthetic non-speech audio: what the speech gate must reject (its tests and benchmark).

Every generator is ``f(seconds, rng, sr=16000) -> float32 mono`` with its
random parameters (levels, pitches, tempi) drawn from ``rng``, so a category
is a family of signals, not one waveform. :data:`CATEGORIES` maps a category
name to its generators; :func:`nonspeech_examples` draws labelled examples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SR = 16000
Generator = Callable[..., np.ndarray]


def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(round(seconds * sr))) / sr


def _at_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    y = x * (10 ** (dbfs / 20) / rms) if rms > 0 else x
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _level(rng: np.random.Generator) -> float:
    """An RMS level in dBFS, quiet to loud."""
    return float(rng.choice([-45.0, -30.0, -18.0, -10.0]))


def _coloured(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1 / f**exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / f ** (exponent / 2.0), n)


def white_noise(seconds, rng, sr=SR):
    return _at_rms(rng.standard_normal(int(round(seconds * sr))), _level(rng))


def pink_noise(seconds, rng, sr=SR):
    return _at_rms(_coloured(int(round(seconds * sr)), rng, 1.0), _level(rng))


def brown_noise(seconds, rng, sr=SR):
    return _at_rms(_coloured(int(round(seconds * sr)), rng, 2.0), _level(rng))


def pure_tone(seconds, rng, sr=SR):
    f = float(rng.choice([110.0, 220.0, 440.0, 1000.0, 3000.0])) * float(rng.uniform(0.95, 1.05))
    return _at_rms(np.sin(2 * np.pi * f * _t(seconds, sr)), _level(rng))


def _harmonics(phase: np.ndarray, n: int, tilt: float = 1.0) -> np.ndarray:
    return sum(np.sin(k * phase) / k**tilt for k in range(1, n + 1))


def harmonic_tone(seconds, rng, sr=SR):
    """A steady buzz at a voice's pitch (80-300 Hz, 8-20 harmonics): periodic like a vowel, without formants."""
    t = _t(seconds, sr)
    f0 = float(rng.uniform(80, 300))
    return _at_rms(_harmonics(2 * np.pi * f0 * t, int(rng.integers(8, 21)), float(rng.uniform(0.7, 1.5))), _level(rng))


def vibrato_tone(seconds, rng, sr=SR):
    """A sung-like note: harmonic tone with 5-6 Hz vibrato and a syllable-rate (3-5 Hz) amplitude envelope."""
    t = _t(seconds, sr)
    f0 = float(rng.uniform(150, 400)) * (1 + 0.03 * np.sin(2 * np.pi * float(rng.uniform(5, 6.5)) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * float(rng.uniform(3, 5)) * t))
    return _at_rms(_harmonics(phase, 12) * env, _level(rng))


def chords(seconds, rng, sr=SR):
    """Rhythmic chord music: plucked (decaying) harmonic triads, a new chord every beat (80-160 bpm)."""
    n = int(round(seconds * sr))
    beat = 60.0 / float(rng.uniform(80, 160))
    root = float(rng.uniform(110, 260))
    progression = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4)]
    out = np.zeros(n)
    for i, start in enumerate(np.arange(0.0, seconds, beat)):
        a = int(start * sr)
        m = min(n - a, int(beat * sr))
        tt = np.arange(m) / sr
        env = np.minimum(1.0, tt * 200) * np.exp(-float(rng.uniform(2, 6)) * tt)
        for semi in progression[i % 4]:
            f = root * 2 ** (semi / 12)
            out[a : a + m] += env * _harmonics(2 * np.pi * f * tt, 8, 1.2)
    return _at_rms(out, _level(rng))


def melody(seconds, rng, sr=SR):
    """A monophonic saw-wave melody on a pentatonic scale, notes of 0.15-0.5 s with short gaps."""
    n = int(round(seconds * sr))
    out = np.zeros(n)
    root = float(rng.uniform(180, 440))
    a = 0
    while a < n:
        dur = int(float(rng.uniform(0.15, 0.5)) * sr)
        m = min(n - a, dur)
        tt = np.arange(m) / sr
        f = root * 2 ** (int(rng.choice([0, 2, 4, 7, 9, 12])) / 12)
        env = np.minimum(1.0, tt * 100) * np.minimum(1.0, (m / sr - tt) * 50)
        out[a : a + m] = env * _harmonics(2 * np.pi * f * tt, 20)
        a += dur + int(0.03 * sr)
    return _at_rms(out, _level(rng))


def drums(seconds, rng, sr=SR):
    """A drum loop: kick (decaying 50-70 Hz sine) and snare/hat (decaying noise) on 8th notes."""
    n = int(round(seconds * sr))
    out = np.zeros(n)
    step = 30.0 / float(rng.uniform(80, 160))
    for i, start in enumerate(np.arange(0.0, seconds, step)):
        a = int(start * sr)
        m = min(n - a, int(0.15 * sr))
        tt = np.arange(m) / sr
        if i % 2 == 0:
            out[a : a + m] += np.sin(2 * np.pi * float(rng.uniform(50, 70)) * tt) * np.exp(-25 * tt)
        else:
            out[a : a + m] += 0.5 * rng.standard_normal(m) * np.exp(-float(rng.uniform(20, 60)) * tt)
    return _at_rms(out, _level(rng))


def click_train(seconds, rng, sr=SR):
    """Impulses at 2-200 per second."""
    n = int(round(seconds * sr))
    x = np.zeros(n)
    x[:: max(1, int(sr / float(rng.choice([2.0, 10.0, 50.0, 200.0]))))] = 1.0
    return _at_rms(x, _level(rng))


def sweep(seconds, rng, sr=SR):
    """A linear or exponential sine sweep over 100 Hz - 6 kHz."""
    t = _t(seconds, sr)
    f0, f1 = 100.0, float(rng.uniform(2000, 6000))
    if rng.random() < 0.5:
        phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    else:
        k = (f1 / f0) ** (1 / seconds)
        phase = 2 * np.pi * f0 * (k**t - 1) / np.log(k)
    return _at_rms(np.sin(phase), _level(rng))


def hum(seconds, rng, sr=SR):
    """Mains hum: 50 or 60 Hz with its odd and even harmonics, plus faint white noise."""
    t = _t(seconds, sr)
    f = float(rng.choice([50.0, 60.0]))
    x = _harmonics(2 * np.pi * f * t, 7) + 0.01 * rng.standard_normal(t.size)
    return _at_rms(x, _level(rng))


def modulated_noise(seconds, rng, sr=SR):
    """Pink noise with a syllable-rate (3-6 Hz) on/off envelope: speech's rhythm without its spectrum."""
    t = _t(seconds, sr)
    env = 0.5 * (1 + np.sign(np.sin(2 * np.pi * float(rng.uniform(3, 6)) * t)))
    return _at_rms(_coloured(t.size, rng, 1.0) * env, _level(rng))


def silence(seconds, rng, sr=SR):
    return np.zeros(int(round(seconds * sr)), np.float32)


CATEGORIES: dict[str, Generator] = {
    "white noise": white_noise,
    "pink noise": pink_noise,
    "brown noise": brown_noise,
    "pure tone": pure_tone,
    "harmonic tone": harmonic_tone,
    "vibrato tone": vibrato_tone,
    "chords": chords,
    "melody": melody,
    "drums": drums,
    "click train": click_train,
    "sweep": sweep,
    "hum": hum,
    "modulated noise": modulated_noise,
    "silence": silence,
}


def nonspeech_examples(
    n_per_category: int, seconds: float = 4.0, seed: int = 0, categories=None
) -> list[tuple[str, np.ndarray]]:
    """``(category, audio)`` pairs, ``n_per_category`` of each (16 kHz), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES) if categories is None else list(categories)
    return [(c, CATEGORIES[c](seconds, rng)) for c in names for _ in range(n_per_category)]


__all__ = ["CATEGORIES", "nonspeech_examples"]
