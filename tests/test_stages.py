"""livemer.stages: the face, voice and speech stages and their rules (pure parts and stubs; no models)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livemer.stages import (
    FaceOptions,
    FaceStage,
    SpeechOptions,
    SpeechStage,
    VoiceStage,
    face_presence,
    voice_presence,
    word_inputs,
)


def test_word_inputs_keep_oov_steps_without_vectors():
    from feature_adapters.text import TextToken

    toks = [
        TextToken("happy", 0.0, 0.4, np.ones(50, np.float32), False, 0.9, 0, "happy"),
        TextToken("zzqx", 0.5, 0.9, np.zeros(50, np.float32), True, 0.5, 1, "zzqx"),
    ]
    w = word_inputs(toks)
    assert [x.word for x in w] == ["happy", "zzqx"]
    assert w[0].vector is not None and not w[0].oov
    assert w[1].vector is None and w[1].oov


def test_voice_presence_uses_half_open_intervals():
    times = np.array([0.05, 0.25, 0.40, 0.95])
    valid = np.array([True, False, True, True])
    ends = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    # [0,0.2): 0.05; [0.2,0.4): only 0.25, invalid; [0.4,0.6): 0.40; [0.6,0.8): none; [0.8,1.0): 0.95
    assert voice_presence(times, valid, ends, 0.2).tolist() == [True, False, True, False, True]
    assert voice_presence(np.zeros(0), np.zeros(0, bool), ends, 0.2).tolist() == [False] * 5


def test_voiced_is_the_voicing_gate():
    from feature_adapters.acoustic import NATIVE_NAMES, AcousticFrames

    feats = np.zeros((4, len(NATIVE_NAMES)), np.float32)
    feats[[1, 3], NATIVE_NAMES.index("vuv")] = 1.0
    frames = AcousticFrames(np.arange(4) * 0.01, feats)
    assert VoiceStage().voiced(frames).tolist() == [False, True, False, True]
    assert VoiceStage().voiced(AcousticFrames.empty()).shape == (0,)


def test_visual_row_masks_missing_faces():
    from feature_adapters.face import FaceResult

    row, ok = FaceStage().row(None)
    assert not ok and row.shape == (35,) and not row.any()
    row, ok = FaceStage().row(FaceResult(face_found=False))
    assert not ok and not row.any()


def test_face_presence_holds_the_latest_result():
    times = np.array([0.1, 0.5, 2.0])
    found = np.array([True, False, True])
    ends = np.array([0.1, 0.3, 0.6, 1.9, 2.05, 3.5])
    # strictly before each end: none; 0.1 (found); 0.5 (no face); 0.5 (no face); 2.0 (found); 2.0 too old
    assert face_presence(times, found, ends, 1.0).tolist() == [False, True, False, False, True, False]
    assert face_presence(np.zeros(0), np.zeros(0, bool), ends, 1.0).tolist() == [False] * 6


def test_face_options_sample_one_frame_per_slot_and_set_the_tolerance():
    from livemer.media import is_sampled

    opts = FaceOptions(rate_hz=5.0)
    fps = 25.0
    kept = [k for k in range(50) if opts.due(k / fps, (k - 1) / fps)]
    assert kept == [k for k in range(50) if is_sampled(k, fps, 5.0)]  # the frame-index rule of file mode
    assert len(kept) == 10
    assert opts.due(0.0, -math.inf) and FaceOptions(rate_hz=0).due(0.01, 0.0)
    assert opts.tolerance() == pytest.approx(0.101) and FaceOptions(rate_hz=30).tolerance() == pytest.approx(0.05)
    assert FaceOptions(rate_hz=15).hold() == 1.0 and FaceOptions(rate_hz=0.5).hold() == 4.0


def test_face_stage_rate_limits_and_maps_boxes_back():
    from feature_adapters.face import FaceResult

    class Backend:
        name = "mediapipe"

        def __init__(self):
            self.sizes, self.ts = [], []

        def process(self, frame, ts):
            self.sizes.append(frame.shape[:2])
            self.ts.append(ts)
            return FaceResult(
                face_found=True, box=(10.0, 20.0, 110.0, 220.0), head_pose=(0.0, 0.0, 0.0), aus={"AU12": 0.5}, n_faces=1
            )

    st = FaceStage(FaceOptions(rate_hz=10.0, max_width=640)).load(Backend())
    img = np.zeros((720, 1280, 3), np.uint8)
    obs = [st.push(k / 30, img) for k in range(30)]
    kept = [o for o in obs if o is not None]
    assert len(kept) == 10 and st.backend.sizes[0] == (360, 640)  # downscaled for the backend
    assert kept[0].result.box == (20.0, 40.0, 220.0, 440.0)  # in the pushed frame's pixels
    assert kept[0].valid and kept[0].row.shape == (35,)
    st.reset()  # a new stream: the tracker's timestamps still increase
    st.push(0.0, img)
    assert all(b > a for a, b in zip(st.backend.ts, st.backend.ts[1:]))


def test_face_stage_tracks_several_faces_with_stable_ids():
    from feature_adapters.face import FaceResult

    class TwoFaces:
        """A big face drifting right and a small one drifting left (largest first, as MediaPipe reports)."""

        name = "mediapipe"

        def __init__(self):
            self.k = 0

        def process(self, frame, ts):
            self.k += 1
            x = 4.0 * self.k
            big = FaceResult(True, box=(x, 0.0, x + 100.0, 100.0), aus={"AU12": 0.9}, head_pose=(0.0, 0.0, 0.0))
            small = FaceResult(
                True, box=(400.0 - x, 0.0, 460.0 - x, 60.0), aus={"AU04": 0.9}, head_pose=(0.0, 0.0, 0.0)
            )
            big.others = [small]
            return big

    one = FaceStage(FaceOptions(rate_hz=0.0)).load(TwoFaces())
    img = np.zeros((120, 640, 3), np.uint8)
    assert one.tracker is None and one.push(0.0, img).faces == ()  # one face: no tracker, as before
    st = FaceStage(FaceOptions(rate_hz=0.0, max_faces=3)).load(TwoFaces())
    obs = [st.push(k / 5, img) for k in range(10)]
    assert all([f[0] for f in o.faces] == [0, 1] for o in obs)  # largest first, the same ids in every frame
    assert all(o.faces[0][2] and o.faces[1][2] for o in obs)  # each its own valid Facet row
    assert not np.allclose(obs[0].faces[0][1], obs[0].faces[1][1])
    assert np.array_equal(obs[0].faces[0][1], obs[0].row)  # the largest face's row is the stage's row
    st.reset()  # a new stream: ids start again
    assert [f[0] for f in st.push(0.0, img).faces] == [0, 1]


def test_speech_options_presets_and_decode_changes():
    live = SpeechOptions.live(beam_size=2)
    assert live.decode_changes() == {
        "fit_window": True,
        "temperatures": (0.0,),
        "max_tokens_per_s": 12.0,
        "beam_size": 2,
    }
    # file mode decodes at temperature 0 only: the fallback's sampled decodes made one file read differently
    # from one process to the next (tests/test_cluster.py's local-vs-Dask parity)
    assert SpeechOptions.file().decode_changes() == {
        "fit_window": True,
        "temperatures": (0.0,),
        "max_tokens_per_s": 12.0,
    }


def test_speech_stage_decodes_when_due_and_commits_at_an_utterance_end():
    class Recogniser:
        def __init__(self):
            self.options = {}

        def with_options(self, **changes):
            self.options.update(changes)
            return self

    class Transcriber:
        def __init__(self):
            self.calls = []

        def push(self, samples, t):
            pass

        def process(self):
            self.calls.append("process")
            return ["w"]

        def flush(self):
            self.calls.append("flush")
            return []

    st = SpeechStage(SpeechOptions.live(interval_s=0.5, endpoint_s=0.8)).load(Recogniser())
    assert st.recogniser.options["beam_size"] == 1
    st.transcriber = tr = Transcriber()
    st.push(0.3, np.zeros(4800, np.float32))
    assert st.decode() is None  # 0.3 s of new audio: not yet
    st.push(0.6, np.zeros(4800, np.float32))
    assert st.decode() == ["w"] and tr.calls == ["process"]
    # voiced up to 1.0 s, analysed up to 1.9 s (>= 0.8 s without voice), the recogniser holds audio to 2.0 s
    st.push(2.0, np.zeros(22400, np.float32))
    assert st.utterance_ended(1.9, 1.0) and not st.utterance_ended(1.5, 1.0)
    assert st.decode(lambda: st.utterance_ended(1.9, 1.0)) == [] and tr.calls[-1] == "flush"
    assert not st.utterance_ended(2.5, 1.0)  # that utterance was committed already


def test_voice_stage_ands_a_speech_gate_into_voicing_and_streams_as_the_batch_path():
    """The speech-gate hook: a gate that holds each push's last frame back and calls speech only after 0.5 s."""
    from feature_adapters.acoustic import AcousticFrames

    def select(frames, mask):
        return AcousticFrames(frames.times[mask], frames.features[mask], frames.names)

    class HoldingGate:
        def __init__(self):
            self.held = AcousticFrames.empty()

        def _flags(self, frames):
            return np.asarray(frames.times) >= 0.5

        def push(self, chunk, t0, frames):
            frames = AcousticFrames.concat([self.held, frames]) if len(self.held) else frames
            if not len(frames):
                return frames, np.zeros(0, bool)
            keep = np.arange(len(frames)) < len(frames) - 1
            self.held = select(frames, ~keep)
            ready = select(frames, keep)
            return ready, self._flags(ready)

        def flush(self, frames):
            frames = AcousticFrames.concat([self.held, frames]) if len(self.held) else frames
            self.held = AcousticFrames.empty()
            return frames, self._flags(frames)

        def reset(self):
            self.held = AcousticFrames.empty()

    from livemer.stages import VoiceOptions

    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    plain = VoiceStage(VoiceOptions(gate=None)).load().analyse(tone)  # no gate: the tone is voiced
    st = VoiceStage(VoiceOptions(gate=HoldingGate)).load()
    batch = st.analyse(tone)
    parts = [st.push(k / sr, tone[k : k + 512]) for k in range(0, tone.size, 512)] + [st.flush()]
    times = np.concatenate([p.times for p in parts])
    voiced = np.concatenate([p.voiced for p in parts])
    assert np.array_equal(times, batch.times) and np.array_equal(voiced, batch.voiced)
    assert np.array_equal(batch.times, plain.times) and plain.voiced[plain.times < 0.45].any()
    assert not batch.voiced[batch.times < 0.5].any()  # the gate said "not speech" there
    assert np.array_equal(batch.voiced[batch.times >= 0.5], plain.voiced[plain.times >= 0.5])


def test_voice_stage_has_the_silero_speech_gate_by_default():
    from livemer.stages import VoiceOptions

    sr = 16000
    tone = (0.3 * np.sin(2 * np.pi * 150 * np.arange(sr) / sr)).astype(np.float32)
    st = VoiceStage().load()
    rows = st.analyse(tone)
    assert len(rows) and not rows.voiced.any()  # voiced by the extractor, but not speech
    assert st.no_voice_reason() == "no speech detected (noise, music or other sound)"
    assert VoiceOptions.gated(False).gate is None and VoiceOptions.gated(True).gate is not None
    off = VoiceStage(VoiceOptions.gated(False)).load()
    assert off.analyse(tone).voiced.any() and off.no_voice_reason() is None


def test_face_stage_gives_the_rows_of_its_visual_space():
    from feature_adapters.blendshapes import (
        BLENDSHAPE_NAMES,
        FACET35_BLENDSHAPES52_NAME,
        aus_to_blendshapes,
        blendshape_row,
    )
    from feature_adapters.face import FaceResult
    from feature_adapters.facet import FacetAdapter

    from conftest import MediaPipeStub

    shapes = {n: 0.0 for n in BLENDSHAPE_NAMES} | {"browDownLeft": 0.6, "browDownRight": 0.4, "jawOpen": 0.3}

    def landmarker():  # a stub MediaPipe result: blendshapes and the AUs derived from them
        return MediaPipeStub(shapes, head_pose=(2.0, 1.0, 0.0))

    class PyFeat:  # py-feat: AU probabilities, no blendshapes
        name = "pyfeat"

        def process(self, frame, ts):
            return FaceResult(True, box=(0.0, 0.0, 8.0, 8.0), head_pose=(0.0, 0.0, 0.0), aus={"AU04": 0.7}, n_faces=1)

    img = np.zeros((16, 16, 3), np.uint8)
    sdk = FaceStage(FaceOptions(rate_hz=0.0)).load(landmarker())  # the default: Facet-35, as SDK checkpoints take
    obs = sdk.push(0.0, img)
    assert obs.row.shape == (35,) and obs.valid and sdk.dim == 35
    st = FaceStage(FaceOptions(rate_hz=0.0), space=FACET35_BLENDSHAPES52_NAME).load(landmarker())
    obs = st.push(0.0, img)
    assert obs.valid and obs.row.shape == (87,) and st.dim == 87
    np.testing.assert_array_equal(obs.row[:35], sdk.push(0.1, img).row)
    np.testing.assert_array_equal(obs.row[35:], blendshape_row(shapes))
    assert not st.row(FaceResult(face_found=False))[0].any() and st.row(None)[0].shape == (87,)
    pf = FaceStage(FaceOptions(rate_hz=0.0), space=FACET35_BLENDSHAPES52_NAME).load(PyFeat())
    obs = pf.push(0.0, img)
    assert obs.valid and obs.row.shape == (87,)
    np.testing.assert_array_equal(obs.row[:35], FacetAdapter("pyfeat").adapt({"AU04": 0.7}, (0.0, 0.0, 0.0)))
    np.testing.assert_array_equal(obs.row[35:], blendshape_row(aus_to_blendshapes({"AU04": 0.7})))
    assert "no blendshapes" in pf.adapter.notice
    assert st.adapter.notice is None and sdk.adapter.notice is None
    sdk.use_space(FACET35_BLENDSHAPES52_NAME)  # a session switching checkpoints: a new adapter, same backend
    assert sdk.push(0.2, img).row.shape == (87,)


def test_face_warmup_analyses_the_first_picture_then_the_stream_gets_a_fresh_backend(monkeypatch):
    """The warm-up runs the camera's picture through the loaded backend (downscaled as the stream's are),
    closes it, and the stream starts on a fresh backend at time 0 (MediaPipe's tracking state stays behind)."""
    import feature_adapters.face as face
    import livemer.stages as stages
    from feature_adapters.face import FaceResult

    class Backend:
        name = "mediapipe"
        notice = None

        def __init__(self):
            self.sizes, self.ts, self.closed = [], [], False

        def process(self, frame, ts):
            self.sizes.append(frame.shape[:2])
            self.ts.append(ts)
            return FaceResult(True, box=(10.0, 20.0, 110.0, 220.0), head_pose=(0.0, 0.0, 0.0), aus={"AU12": 0.5})

        def close(self):
            self.closed = True

    made: list[Backend] = []
    monkeypatch.setattr(stages, "import_heavy", lambda kind: None)
    monkeypatch.setattr(face, "make_face_backend", lambda kind, **kw: made.append(Backend()) or made[-1])
    st = FaceStage(FaceOptions(rate_hz=15.0, max_width=640)).load()
    frame = np.zeros((720, 1280, 3), np.uint8)
    obs = st.warmup(frame, frames=3)
    warmed, fresh = made
    assert warmed.closed and len(warmed.ts) == 3 and warmed.sizes[0] == (360, 640)
    assert st.backend is fresh and not fresh.closed and fresh.ts == []
    assert obs.found and obs.result.box == (20.0, 40.0, 220.0, 440.0)  # in the picture's pixels (for the overlay)
    st.push(0.0, frame)
    assert fresh.ts == [0.0]  # the stream's first frame at time 0 of a fresh tracker
    given = Backend()  # a backend handed in is neither warmed nor replaced
    other = FaceStage().load(given)
    assert other.warmup(frame) is None and other.backend is given and given.ts == [] and not given.closed


def test_speech_warmup_decodes_the_longest_buffer_then_starts_fresh():
    """The recogniser's warm-up decodes a buffer as long as the stream's longest (max_buffer_s + one
    interval) with its VAD passing everything; the stage's transcriber is new afterwards."""
    from feature_adapters.asr import Transcript

    class Recogniser:
        def __init__(self, options=None, log=None):
            self.options = dict(options or {})
            self.log = [] if log is None else log

        def with_options(self, **changes):
            return Recogniser({**self.options, **changes}, self.log)

        def transcribe(self, audio, initial_prompt=None):
            self.log.append((audio.size / 16000, self.options.get("vad_threshold")))
            return Transcript([], audio.size / 16000)

    st = SpeechStage(SpeechOptions.live(max_buffer_s=12.0, interval_s=0.6)).load(Recogniser())
    before = st.transcriber
    st.warmup()
    seconds = [s for s, _ in st.recogniser.log]
    assert seconds[0] == pytest.approx(1.0)  # the VAD's and decoder's lazy start
    assert (pytest.approx(12.6), 0.0) in st.recogniser.log  # the longest buffer, VAD threshold 0
    assert st.transcriber is not before and st.committed_words == [] and st.audio_end == 0.0
