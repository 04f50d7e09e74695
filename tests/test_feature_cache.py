"""Feature cache: keyed by file content, extractor and version; atomic, self-healing."""

from __future__ import annotations

import numpy as np
import pytest

from recipes.feature_cache import Extractor, FeatureCache, FeatureCacheError, file_digest, source_digest


def _file(tmp_path, name="a.bin", data=b"hello"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.slow
def test_compute_once_then_hit(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    src = _file(tmp_path)
    calls = []

    def compute(path):
        calls.append(path)
        return {"x": np.arange(3.0), "names": np.asarray(["a", "b"])}

    ex = Extractor("acoustic", "v1")
    a = cache.get_or_compute(src, ex, compute)
    b = cache.get_or_compute(src, ex, compute)
    assert len(calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert b["names"].tolist() == ["a", "b"]


def test_key_is_content_extractor_and_version(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    a = _file(tmp_path, "a.bin", b"same")
    copy = _file(tmp_path, "copy.bin", b"same")
    other = _file(tmp_path, "b.bin", b"different")
    v1, v2, asr = Extractor("acoustic", "v1"), Extractor("acoustic", "v2"), Extractor("asr", "v1")
    assert cache.path_for(a, v1) == cache.path_for(copy, v1)  # a renamed copy still hits
    assert len({cache.path_for(a, v1), cache.path_for(other, v1), cache.path_for(a, v2), cache.path_for(a, asr)}) == 4
    cache.save(a, v1, {"x": np.ones(2)})
    assert cache.load(copy, v1) is not None
    assert cache.load(a, v2) is None


def test_corrupt_entry_is_recomputed(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    src = _file(tmp_path)
    ex = Extractor("asr", "v1")
    cache.save(src, ex, {"x": np.zeros(1)})
    cache.path_for(src, ex).write_bytes(b"not an npz")
    got = cache.get_or_compute(src, ex, lambda p: {"x": np.full(1, 7.0)})
    assert got["x"][0] == 7.0
    assert cache.load(src, ex)["x"][0] == 7.0
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(FeatureCacheError, match="nope.flac"):
        file_digest(tmp_path / "nope.flac")


def test_bad_extractor_names_rejected():
    with pytest.raises(ValueError):
        Extractor("a/b", "v1")
    with pytest.raises(ValueError):
        Extractor("asr", "")


def test_source_digest_follows_code_and_values():
    def f():
        return 1

    def g():
        return 2

    assert source_digest(f) != source_digest(g)
    assert source_digest(f, "beam=5") != source_digest(f, "beam=1")
    assert source_digest(f, "x") == source_digest(f, "x")


def test_default_root_follows_livemer_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEMER_CACHE_DIR", str(tmp_path / "cc"))
    assert FeatureCache().root == tmp_path / "cc" / "features"


def test_entry_keyed_by_the_contents_of_many_files(tmp_path):
    from recipes.feature_cache import files_digest

    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    cache = FeatureCache(tmp_path / "c")
    ex = Extractor("table", "v1")
    calls = []
    compute = lambda: calls.append(1) or {"rows": np.arange(2)}  # noqa: E731
    d = files_digest([a, b])
    assert files_digest([b, a]) != d  # order matters: rows follow the files
    cache.get_or_compute_digest(d, ex, compute)
    got = cache.get_or_compute_digest(files_digest([a, b]), ex, compute)
    assert len(calls) == 1 and got["rows"].tolist() == [0, 1]
    b.write_bytes(b"changed")
    cache.get_or_compute_digest(files_digest([a, b]), ex, compute)
    assert len(calls) == 2  # one file's content changed: a new entry
