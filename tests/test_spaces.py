"""FeatureSpace contract: validation, serialisation and the compatibility check."""

from __future__ import annotations

import dataclasses
import json

import pytest

from feature_adapters.spaces import FeatureSpace, FeatureSpaceMismatch, check_compatible

COLS = ("f0", "f1", "f2")


def test_columns_must_match_dim():
    with pytest.raises(ValueError, match="2 columns for dim 3"):
        FeatureSpace("x", 3, columns=("a", "b"))
    assert FeatureSpace("x", 3).columns == ()


def test_dict_round_trip_through_json():
    s = FeatureSpace("covarep-3", 3, COLS, filled={"f2": "constant 0 (no glottal analysis)"}, description="d")
    back = FeatureSpace.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and isinstance(back.columns, tuple)


def test_from_dict_fills_optional_fields():
    s = FeatureSpace.from_dict({"name": "facet-35", "dim": "35"})
    assert (s.dim, s.columns, s.filled, s.description) == (35, (), {}, "")


def test_spaces_are_immutable():
    s = FeatureSpace("x", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dim = 4  # type: ignore[misc]


def test_compatible_spaces_pass():
    check_compatible("acoustic", FeatureSpace("a", 3, COLS), FeatureSpace("a", 3, COLS))
    check_compatible("acoustic", FeatureSpace("a", 3, COLS), FeatureSpace("a", 3))  # no columns to compare


@pytest.mark.parametrize("running", [FeatureSpace("egemaps-3", 3), FeatureSpace("a", 4)])
def test_name_or_dim_mismatch_names_both_spaces(running):
    with pytest.raises(FeatureSpaceMismatch) as ei:
        check_compatible("acoustic", FeatureSpace("a", 3), running)
    msg = str(ei.value)
    assert "acoustic" in msg and "'a' (3-d)" in msg and f"'{running.name}' ({running.dim}-d)" in msg
    assert "\n" not in msg
    assert isinstance(ei.value, ValueError)


def test_column_mismatch_names_the_column():
    with pytest.raises(FeatureSpaceMismatch, match="column 1 is 'f1'.*'pitch'"):
        check_compatible("visual", FeatureSpace("a", 3, COLS), FeatureSpace("a", 3, ("f0", "pitch", "f2")))
