"""livemer.session: the one stage core; the parity of the live and file drivers over the same media."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from feature_adapters.face import FaceResult
from livemer.engine import Engine, EngineConfig
from livemer.errors import LivemerError
from livemer.session import Session, SessionOptions
from livemer.stages import FaceOptions, VoiceOptions


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine(EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.0, modalities="av"))


class BrightFace:
    """A face in bright frames (smile = brightness)."""

    name = "mediapipe"

    def process(self, frame, ts):
        v = float(frame.mean()) / 255.0
        if v < 0.5:
            return FaceResult(face_found=False)
        return FaceResult(
            face_found=True, box=(1.0, 1.0, 9.0, 9.0), head_pose=(0.0, 0.0, 0.0), aus={"AU06": v, "AU12": v}, n_faces=1
        )


def _tone(seconds: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(140 + 20 * np.sin(2 * np.pi * 0.5 * t)) / sr
    return sum(0.2 / k * np.sin(k * phase) for k in range(1, 8)).astype(np.float32)


def test_session_pushes_frames_and_audio_into_one_result(engine):
    # no speech gate: the tone stands in for a voice (the gate: tests/test_speech_gate.py, test_live.py)
    s = Session(
        SessionOptions(face=FaceOptions(rate_hz=10.0), voice=VoiceOptions(gate=None), stages=("face", "voice")),
        engine,
        components={"face": BrightFace()},
    )
    s.load(wait=("face", "voice"))
    s.start()
    dark, bright = np.zeros((24, 32, 3), np.uint8), np.full((24, 32, 3), 220, np.uint8)
    analysed = [s.push_frame(k / 30, dark if k < 30 else bright) for k in range(60)]
    assert sum(o is not None for o in analysed) == 20  # 10 per second of a 30 fps camera
    audio = _tone(2.0)
    for k in range(0, audio.size, 512):
        s.push_audio((k + 512) / 16000, audio[k : k + 512])
    s.flush()
    assert s.face_present() is True and s.voice_present()
    res = s.result(2.0)
    assert res.modalities_used == ("acoustic", "visual") and res.face_present and res.voice_present
    assert s.counts.frames_analysed == 20 and s.counts.faces_found == 10
    s.start()  # a new stream forgets the old one
    assert s.face_present() is None and not s.voice_present() and s.result(1.0) is None
    s.close()


class StubRecogniser:
    def with_options(self, **changes):
        return self


def test_warmup_runs_each_stage_as_it_loads_and_the_stream_starts_fresh(engine, monkeypatch):
    """SessionOptions(warmup=True) (the live driver's): the voice stage analyses a voiced tone and the recogniser
    decodes once while they load, before the stream; start() then resets them, so the stream gives what a cold
    session gives."""
    import livemer.stages as stages

    decoded = []
    monkeypatch.setattr(stages.SpeechStage, "warmup", lambda self: decoded.append(self))
    pushed = []
    real_push = stages.VoiceStage.push
    monkeypatch.setattr(stages.VoiceStage, "push", lambda self, t0, x: pushed.append(x.size) or real_push(self, t0, x))

    def run(warm: bool):
        opts = SessionOptions(voice=VoiceOptions(gate=None), stages=("voice", "speech"), warmup=warm)
        s = Session(opts, engine, components={"asr": StubRecogniser()})
        s.load(wait=("voice", "speech"))
        assert s.notices == []
        n_warm = len(pushed)
        s.start()
        audio = _tone(2.0)
        rows = [s.push_audio((k + 512) / 16000, audio[k : k + 512]) for k in range(0, audio.size, 512)]
        s.close()
        return n_warm, np.concatenate([r.features for r in rows if len(r)])

    cold_pushes, cold = run(False)
    assert cold_pushes == 0 and decoded == []
    pushed.clear()
    warm_pushes, warm = run(True)
    assert warm_pushes == 1 and pushed[0] == 24000 and len(decoded) == 1  # 1.5 s of tone, one decode
    np.testing.assert_array_equal(warm, cold)


def test_a_recogniser_loaded_after_the_stream_started_skips_the_long_decode(engine, monkeypatch):
    """The CLI starts the stream once the face stage is ready; a recogniser that loads later only starts its
    lazy sessions (a decode at its longest buffer would compete with the running stream for the CPU)."""
    import livemer.session as session_mod
    import livemer.stages as stages

    long, light = [], []
    monkeypatch.setattr(stages.SpeechStage, "warmup", lambda self: long.append(self))
    monkeypatch.setattr(session_mod, "warm_asr", lambda asr: light.append(asr))
    s = Session(SessionOptions(stages=("speech",), warmup=True), engine, components={"asr": StubRecogniser()})
    s.start()  # the stream runs before the stage has loaded
    s.load(wait=("speech",))
    assert s.notices == [] and long == [] and len(light) == 1
    s.close()


def test_a_stage_that_cannot_load_masks_its_modality_with_one_notice(engine, monkeypatch):
    import livemer.stages as stages

    def broken(self, backend=None):
        raise LivemerError("no landmarker here")

    monkeypatch.setattr(stages.FaceStage, "load", broken)
    s = Session(SessionOptions(stages=("face",)), engine)
    s.load()
    assert not s.wait_stage("face")
    assert s.notices == ["face analysis unavailable (no landmarker here); the visual modality is absent"]


def test_unknown_stage_and_missing_engine_are_one_line_errors():
    with pytest.raises(LivemerError, match="unknown session stage"):
        Session(SessionOptions(stages=("face", "nose")))
    with pytest.raises(LivemerError, match="no engine"):
        Session(SessionOptions(stages=())).start()


# --------------------------------------------------------------------------- parity


class ReplayRecogniser:
    """File mode's recogniser hearing exactly the words the live recogniser committed."""

    def __init__(self, words):
        self.words = list(words)

    def with_options(self, **changes):
        return self

    def transcribe_file_audio(self, audio16k):
        return list(self.words)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg missing")
def test_live_and_file_drivers_give_the_same_windows_and_probabilities(shared_dir, tiny_checkpoint):
    """A GRID clip (a real face, real speech) through the live driver (files unpaced: every frame and block
    reaches the workers, as fast as they take them) and through the file driver: at every file-mode row
    time the live session's window has the same span, steps and modalities, and the model gives the same
    probabilities (tolerance 1e-5). Face (MediaPipe), voice and the live recogniser are the real stages;
    file mode's recogniser replays the live one's committed words (the recognisers differ by design:
    LocalAgreement streaming live, one pass in file mode), so words reach both windows the same way."""
    pytest.importorskip("mediapipe")
    from livemer.live import LiveDriver, LiveOptions
    from livemer.offline import FileDriver, OfflineSettings

    clip = sorted((shared_dir / "media" / "grid").glob("*.mpg"))[0]
    eng = Engine(
        EngineConfig(checkpoint=tiny_checkpoint, smoothing_tau=0.5, modalities="tav", face_backend="mediapipe")
    )
    live = LiveDriver(
        LiveOptions(camera=str(clip), mic=str(clip), headless=True, paced=False, face_hz=5.0, render=False), eng
    )
    live.open_inputs()
    live.prepare(wait_all=True)
    th = threading.Thread(target=live.run, daemon=True)
    th.start()
    th.join(180)
    assert not th.is_alive() and live.stats.errors == []
    s = live.session
    words = s.speech.committed_words
    assert len(words) >= 3  # GRID: six words

    fd = FileDriver(eng, OfflineSettings(hop=0.2, face_fps=5.0), components={"asr": ReplayRecogniser(words)})
    try:
        r = fd.analyse(clip)
    finally:
        fd.close()
    assert s.counts.frames_analysed == len(r.face.times) and s.counts.faces_found == int(r.face.found.sum())
    assert r.face.found.mean() > 0.9 and r.modalities_used[-1] == "tav"
    for i, t in enumerate(r.times):
        w = s.window(float(t))
        assert w.span[0] == pytest.approx(r.window_start[i], abs=1e-9, nan_ok=True)
        assert " ".join(x for x in w.words if x) == r.words[i]
        p = eng.predict(w)
        assert "".join(m[0] for m in p.modalities_used) == r.modalities_used[i]
        assert np.allclose(p.probabilities, r.probabilities[i], atol=1e-5, equal_nan=True), f"row {i} at {t:.2f} s"
    # presence follows the same rules: at the end both see the face
    assert s.face_present() == bool(r.face_present[-1])


def test_a_checkpoint_naming_the_blendshape_space_gets_87_columns_from_the_face_stage(tmp_path, engine):
    from feature_adapters.blendshapes import BLENDSHAPE_NAMES, FACET35_BLENDSHAPES52_NAME
    from tests.conftest import make_checkpoint

    path = tmp_path / "bs.ckpt"
    make_checkpoint(path, visual=FACET35_BLENDSHAPES52_NAME)
    eng = Engine(EngineConfig(checkpoint=path, smoothing_tau=0.0, modalities="v"))
    assert eng.visual_space == FACET35_BLENDSHAPES52_NAME and eng.dims[2] == 87
    assert engine.visual_space == "facet-35" and engine.dims[2] == 35  # SDK-style Facet-35 checkpoints unchanged

    class Smiling(BrightFace):
        def process(self, frame, ts):
            r = super().process(frame, ts)
            if r.face_found:
                r.blendshapes = {n: 0.0 for n in BLENDSHAPE_NAMES} | {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}
            return r

    for e, d in ((eng, 87), (engine, 35)):
        s = Session(SessionOptions(face=FaceOptions(rate_hz=0.0), stages=("face",)), e, components={"face": Smiling()})
        s.load(wait=("face",))
        s.start()
        bright = np.full((24, 32, 3), 220, np.uint8)
        obs = [s.push_frame(k / 5, bright) for k in range(10)]
        assert s.face.space == e.visual_space and all(o.row.shape == (d,) and o.valid for o in obs)
        res = s.result(2.0)
        assert res is not None and res.modalities_used == ("visual",) and np.isfinite(res.probabilities).all()
        s.close()


def test_a_backend_without_blendshapes_under_the_87_column_space_is_noted_once(tmp_path):
    from feature_adapters.blendshapes import FACET35_BLENDSHAPES52_NAME
    from tests.conftest import make_checkpoint

    class PyFeat(BrightFace):
        name = "pyfeat"

    path = tmp_path / "bs.ckpt"
    make_checkpoint(path, visual=FACET35_BLENDSHAPES52_NAME)
    eng = Engine(EngineConfig(checkpoint=path, smoothing_tau=0.0, modalities="v"))
    s = Session(SessionOptions(face=FaceOptions(rate_hz=0.0), stages=("face",)), eng, components={"face": PyFeat()})
    s.load(wait=("face",))
    s.start()
    obs = s.push_frame(0.0, np.full((24, 32, 3), 220, np.uint8))
    assert obs.valid and obs.row.shape == (87,) and np.isfinite(obs.row).all()
    assert sum("gives no blendshapes" in n for n in s.notices) == 1
    s.close()


def test_a_checkpoint_naming_the_dynamics_space_gets_102_acoustic_columns_live_and_in_file_mode(tmp_path, engine):
    from feature_adapters.covarep import COVAREP74_DYNAMICS, DYNAMICS_SOURCES
    from tests.conftest import make_checkpoint

    path = tmp_path / "dyn.ckpt"
    make_checkpoint(path, acoustic=COVAREP74_DYNAMICS.name)
    eng = Engine(EngineConfig(checkpoint=path, smoothing_tau=0.0, modalities="a"))
    assert eng.acoustic_space == COVAREP74_DYNAMICS.name and eng.running_spaces()["acoustic"] is COVAREP74_DYNAMICS
    assert eng.dims[1] == 102 and eng.frame_dims[1] == 74 and len(eng.acoustic_dynamics) == len(DYNAMICS_SOURCES)
    assert engine.acoustic_space == "covarep-74" and engine.dims[1] == engine.frame_dims[1] == 74  # SDK layout
    s = Session(SessionOptions(voice=VoiceOptions(gate=None), stages=("voice",)), eng)
    s.load(wait=("voice",))
    s.start()
    audio = _tone(3.0)
    rows = []
    for k in range(0, audio.size, 512):
        rows.append(s.push_audio((k + 512) / 16000, audio[k : k + 512]))
    rows.append(s.voice.flush())  # the stream's end (Session.flush), its last frames kept for file mode below
    s.add_acoustic(rows[-1])
    w = s.window(3.0)
    voiced = w.acoustic_mask
    assert w.acoustic.shape == (20, 102) and voiced.sum() >= 4
    f0_std = w.acoustic[voiced, 74]  # the tone's pitch glides: F0 moves inside every step
    assert (f0_std > 0).all() and np.isfinite(w.acoustic).all()
    times = np.concatenate([r.times for r in rows])
    feats = np.concatenate([r.features for r in rows])
    ok = np.concatenate([r.voiced for r in rows])
    (batch,) = s.windows_at(np.array([3.0]), [], (times, feats, ok), None)  # file mode's path, same frames
    np.testing.assert_allclose(batch.acoustic, w.acoustic, atol=1e-6)
    res = s.result(3.0)
    assert res is not None and res.modalities_used == ("acoustic",) and np.isfinite(res.probabilities).all()
    s.close()
