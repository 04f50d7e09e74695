"""Checkpoint: round-trip, fp16 safetensors storage, the old torch format, feature-space checks and one-line errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import model.checkpoint as checkpoint_module
from feature_adapters.spaces import FeatureSpace
from model.checkpoint import FORMAT, Checkpoint, CheckpointError, encode_payload, load_checkpoint
from model.config import ModelConfig
from model.network import EmotionEmbeddingNet
from model.normalize import NormStats

from conftest import SIX, make_checkpoint


def _small_cfg() -> ModelConfig:
    return ModelConfig(
        input_dims={"text": 50, "acoustic": 74, "visual": 35},
        hidden={"text": 50, "acoustic": 32, "visual": 16},
        emb_dim=50,
    )


def _spaces() -> dict[str, FeatureSpace]:
    return {
        "text": FeatureSpace("glove-6B-50d", 50),
        "acoustic": FeatureSpace("covarep-74", 74),
        "visual": FeatureSpace(
            "facet-35", 35, columns=tuple(f"AU{i}" for i in range(35)), filled={"AU3": "constant 0"}
        ),
    }


def _ck(net=None, words=("happy", "sad"), **kw) -> Checkpoint:
    torch.manual_seed(0)
    net = net or EmotionEmbeddingNet(_small_cfg())
    rng = np.random.default_rng(0)
    norm = {
        "acoustic": NormStats(rng.normal(size=74).astype(np.float32), rng.uniform(0.5, 2, 74).astype(np.float32)),
        "visual": NormStats.identity(35),
        "text": NormStats.identity(50),
    }
    vecs = rng.normal(size=(len(words), 50)).astype(np.float32)
    return Checkpoint.from_model(net, _spaces(), norm, list(words), vecs, "glove-6B-50d", **kw)


def _inputs():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 6, 50, generator=g), torch.randn(2, 6, 74, generator=g), torch.randn(2, 6, 35, generator=g)


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg.strip()
    return msg


def test_round_trip_keeps_everything(tmp_path):
    ck = _ck(display_emotions=["happy"], provenance={"data": "unit", "metrics": {"w_acc": 0.61}})
    ck.save(tmp_path / "m.ckpt")
    back = Checkpoint.load(tmp_path / "m.ckpt")
    assert back.path == tmp_path / "m.ckpt"
    assert back.config == ck.config
    assert back.feature_spaces == ck.feature_spaces
    assert back.emotion_words == ["happy", "sad"] and back.display_emotions == ["happy"]
    assert back.embedding_space == "glove-6B-50d"
    assert np.array_equal(back.emotion_vectors, ck.emotion_vectors)  # word vectors stay float32-exact
    for m in ck.normalization:
        assert np.array_equal(back.normalization[m].mean, ck.normalization[m].mean)
        assert np.array_equal(back.normalization[m].std, ck.normalization[m].std)
    assert back.provenance["data"] == "unit" and back.provenance["metrics"] == {"w_acc": 0.61}
    assert "saved" in back.provenance  # a save date is added


def test_loaded_model_computes_what_the_fp16_rounded_model_computes(tmp_path):
    torch.manual_seed(1)
    net = EmotionEmbeddingNet(_small_cfg()).eval()
    ck = _ck(net)
    ck.save(tmp_path / "m.ckpt")
    loaded = Checkpoint.load(tmp_path / "m.ckpt").build_model()
    assert not loaded.training
    rounded = EmotionEmbeddingNet(_small_cfg()).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    E = torch.from_numpy(ck.emotion_vectors)
    x = _inputs()
    with torch.no_grad():
        got, want, orig = loaded(*x, E).logits, rounded(*x, E).logits, net(*x, E).logits
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got, orig, atol=0.05)  # fp16 storage changes little


def test_weights_are_stored_in_fp16_and_the_file_is_small(tmp_path):
    from safetensors import safe_open

    ck = _ck()
    path = ck.save(tmp_path / "m.ckpt")
    assert path.read_bytes()[:4] != b"PK\x03\x04"  # not a torch zip any more
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert json.loads(meta["format"]) == FORMAT and json.loads(meta["config"]) == ck.config.to_dict()
    floats = [v for k, v in tensors.items() if k.startswith("state_dict/")]
    assert len(floats) == len(ck.state_dict) and all(v.dtype == np.float16 for v in floats)
    assert tensors["emotion_vectors"].dtype == np.float32
    n_params = sum(v.size for v in floats)
    size = os.path.getsize(path)
    assert size < 2 * n_params + 64_000  # fp32 would need 4 bytes per parameter
    assert ck.summary()["parameters"] == sum(p.numel() for p in EmotionEmbeddingNet(_small_cfg()).parameters())


def _legacy_payload(ck: Checkpoint) -> dict:
    """What version 1 wrote with torch.save: the same payload with torch tensors."""
    payload = ck.to_payload()
    payload["version"] = 1
    payload["state_dict"] = {k: torch.from_numpy(v) for k, v in payload["state_dict"].items()}
    payload["emotion_vectors"] = torch.from_numpy(payload["emotion_vectors"])
    return payload


def test_old_torch_format_still_loads_and_converts(tmp_path):
    ck = _ck(provenance={"data": "unit"})
    old = tmp_path / "old.ckpt"
    torch.save(_legacy_payload(ck), old)
    assert old.read_bytes()[:4] == b"PK\x03\x04"
    back = Checkpoint.load(old)
    assert back.config == ck.config and back.emotion_words == ck.emotion_words and back.provenance["data"] == "unit"
    for k, v in ck.state_dict.items():
        assert isinstance(back.state_dict[k], np.ndarray) and back.state_dict[k].dtype == np.float16
        assert np.array_equal(back.state_dict[k], v.half().numpy()), k
    new = back.save(tmp_path / "new.ckpt")  # the conversion: load the old file, save it again
    again = Checkpoint.load(new)
    assert again.provenance == back.provenance
    assert all(np.array_equal(again.state_dict[k], back.state_dict[k]) for k in back.state_dict)
    x = _inputs()
    E = torch.from_numpy(ck.emotion_vectors)
    with torch.no_grad():
        assert torch.equal(back.build_model()(*x, E).logits, again.build_model()(*x, E).logits)


def test_loaded_weights_are_numpy_and_feed_both_backends(tmp_path):
    ck = _ck()
    back = Checkpoint.load(ck.save(tmp_path / "m.ckpt"))
    assert all(isinstance(v, np.ndarray) for v in back.state_dict.values())
    sd = back.torch_state_dict()
    assert all(v.dtype == torch.float32 for v in sd.values())
    net = EmotionEmbeddingNet(_small_cfg())
    net.load_state_dict(sd)  # e.g. fine-tuning from a loaded checkpoint
    x = _inputs()
    E = torch.from_numpy(ck.emotion_vectors)
    with torch.no_grad():
        want = back.build_model()(*x, E).logits.numpy()
    got = back.build_runtime().forward(*(a.numpy() for a in x), ck.emotion_vectors).logits
    assert np.allclose(got, want, atol=1e-5)


def test_numpy_values_in_metadata_still_load(tmp_path):
    """Regression: numpy scalars in provenance/words used to save fine and then fail to load."""
    ck = _ck(provenance={"metrics": {"w_acc": np.float64(0.7), "n": np.int64(12), "per": np.array([0.5, 0.25])}})
    ck.emotion_words = [np.str_(w) for w in ck.emotion_words]
    ck.save(tmp_path / "m.ckpt")
    back = Checkpoint.load(tmp_path / "m.ckpt")
    assert back.provenance["metrics"] == {"w_acc": 0.7, "n": 12, "per": [0.5, 0.25]}
    assert back.emotion_words == ["happy", "sad"] and type(back.emotion_words[0]) is str
    json.dumps(back.summary())


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    target = tmp_path / "m.ckpt"
    _ck().save(target)
    before = target.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.os, "replace", boom)
    with pytest.raises(OSError):
        _ck(words=("anger",)).save(target)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]


def test_check_spaces_accepts_matching_and_names_both_on_mismatch():
    ck = _ck()
    ck.check_spaces(_spaces())  # no error
    ck.check_spaces({"acoustic": FeatureSpace("covarep-74", 74)})  # a subset is fine
    with pytest.raises(CheckpointError) as ei:
        ck.check_spaces({"acoustic": FeatureSpace("egemaps-88", 88)})
    msg = _one_line(ei.value)
    assert "covarep-74" in msg and "egemaps-88" in msg and "acoustic" in msg
    cols = tuple(f"AU{i}" for i in range(34)) + ("gaze_x",)
    with pytest.raises(CheckpointError, match="column 34 is 'AU34'.*'gaze_x'"):
        ck.check_spaces({"visual": FeatureSpace("facet-35", 35, columns=cols)})
    ck.feature_spaces.pop("visual")
    with pytest.raises(CheckpointError, match="visual"):
        ck.check_spaces({"visual": FeatureSpace("facet-35", 35)})


@pytest.mark.slow
def test_tiny_fixture_checkpoint_records_real_glove_vectors(tiny_checkpoint):
    from feature_adapters.embeddings import get_provider

    ck = Checkpoint.load(tiny_checkpoint)
    assert ck.emotion_words == SIX and ck.display_emotions == SIX
    assert np.allclose(ck.vector_of("happy"), get_provider().vector("happy"))
    assert ck.vector_of("bored") is None
    assert ck.feature_spaces["text"].name == ck.embedding_space == "glove-6B-50d"


def _save_payload(path, legacy=False, **changes):
    payload = _legacy_payload(_ck()) if legacy else _ck().to_payload()
    for k, v in changes.items():
        if v is None:
            payload.pop(k)
        else:
            payload[k] = v
    if legacy:
        torch.save(payload, path)
    else:
        path.write_bytes(encode_payload(payload))
    return path


@pytest.mark.parametrize("content", [b"", b"garbage" * 200, b"PK\x03\x04 not a zip"])
def test_non_checkpoint_bytes_give_one_line_error(tmp_path, content):
    p = tmp_path / "bad.ckpt"
    p.write_bytes(content)
    with pytest.raises(CheckpointError) as ei:
        Checkpoint.load(p)
    assert str(p) in _one_line(ei.value)


def test_truncated_checkpoint_gives_one_line_error(tmp_path):
    good = _ck().save(tmp_path / "good.ckpt")
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable livemer checkpoint") as ei:
        Checkpoint.load(bad)
    assert str(bad) in _one_line(ei.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Checkpoint.load(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError):
        Checkpoint.load(tmp_path)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"format": "something-else"}, "not a livemer checkpoint"),
        ({"version": 99}, "newer"),
        ({"config": None}, "malformed"),
        ({"emotion_words": ["happy"]}, "emotion words but vectors"),
        ({"feature_spaces": {"acoustic": {"name": "covarep-80", "dim": 80}}}, "covarep-80.*80-d.*74"),
    ],
)
@pytest.mark.parametrize("legacy", [False, True])
def test_inconsistent_payloads_are_rejected(tmp_path, changes, expected, legacy):
    p = _save_payload(tmp_path / "x.ckpt", legacy=legacy, **changes)
    with pytest.raises(CheckpointError, match=expected) as ei:
        Checkpoint.load(p)
    assert str(p) in _one_line(ei.value)


def test_other_torch_files_are_rejected(tmp_path):
    p = tmp_path / "weights.pt"
    torch.save(EmotionEmbeddingNet(_small_cfg()).state_dict(), p)
    with pytest.raises(CheckpointError, match="not a livemer checkpoint"):
        Checkpoint.load(p)


def test_other_safetensors_files_are_rejected(tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "model.safetensors"
    save_file({"w": np.zeros((2, 2), np.float32)}, str(p), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a livemer checkpoint") as ei:
        Checkpoint.load(p)
    assert str(p) in _one_line(ei.value)


def test_weights_that_do_not_fit_the_config(tmp_path):
    ck = _ck()
    ck.config = ModelConfig(input_dims=ck.config.input_dims, hidden={"text": 50, "acoustic": 64, "visual": 16})
    with pytest.raises(CheckpointError, match="weights do not fit the config") as ei:
        ck.build_model()
    _one_line(ei.value)
    with pytest.raises(CheckpointError, match="weights do not fit the config.*acoustic") as ei:
        ck.build_runtime()
    _one_line(ei.value)


def test_load_checkpoint_default_path_from_env(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("LIVEMER_CHECKPOINT", str(tiny_checkpoint))
    assert load_checkpoint().emotion_words == SIX
    missing = tmp_path / "gone.ckpt"
    monkeypatch.setenv("LIVEMER_CHECKPOINT", str(missing))
    with pytest.raises(CheckpointError, match="--checkpoint") as ei:
        load_checkpoint()
    assert str(missing) in _one_line(ei.value)


def test_make_checkpoint_helper_honours_words(tmp_path):
    ck = make_checkpoint(tmp_path / "w.ckpt", words=["happy", "calm"], seed=3)
    back = Checkpoint.load(tmp_path / "w.ckpt")
    assert back.emotion_words == ["happy", "calm"]
    assert np.array_equal(back.emotion_vectors, ck.emotion_vectors)


def _zs_cfg(zero_shot) -> ModelConfig:
    return ModelConfig(
        input_dims={"text": 50, "acoustic": 74, "visual": 35},
        hidden={"text": 50, "acoustic": 32, "visual": 16},
        emb_dim=50,
        zero_shot=zero_shot,
    )


def test_zero_shot_rules_round_trip_and_the_old_rule_loads_unchanged(tmp_path):
    rng = np.random.default_rng(5)
    anchors = rng.normal(size=(2, 50)).astype(np.float32)
    new = rng.normal(size=(1, 50)).astype(np.float32)
    old = {"method": "compose", "beta": 5.0, "anchors": {"acoustic": 2, "visual": 2}}
    v2 = {
        "method": "affect",
        "version": 2,
        "beta": 0.0,
        "beta_affect": 30.0,
        "axes": 3,
        "ridge": 0.1,
        "axis_names": ["valence", "arousal", "dominance"],
        "anchors": {"acoustic": 2, "visual": 2},
    }
    for zs in (old, v2):
        torch.manual_seed(0)
        net = EmotionEmbeddingNet(_zs_cfg(zs)).eval()
        axes = rng.normal(size=(3, 50)).astype(np.float32) if zs is v2 else None
        net.set_zero_shot({"acoustic": anchors, "visual": anchors}, np.eye(50), axes)
        ck = _ck(net)
        p = ck.save(tmp_path / f"{zs['method']}.ckpt")
        back = Checkpoint.load(p)
        assert back.config.zero_shot == zs  # the stored rule, exactly (old files keep theirs)
        with torch.no_grad():
            want = net.emotion_embeddings(torch.from_numpy(new))["acoustic"].numpy()
        got = back.build_runtime().emotion_embeddings(new)["acoustic"]
        assert np.allclose(got, want, atol=2e-2)  # fp16 weights
        assert ("zsl_axes" in back.state_dict) == (zs is v2)
