import argparse

import pytest

from livemer.cli_options import add_model_options, add_scoring_options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_scoring_options(p)
    add_model_options(p)
    return p


def test_defaults():
    a = _parser().parse_args([])
    assert (a.emotions, a.modalities, a.checkpoint, a.glove, a.face_backend, a.asr_model) == (
        None,
        "tav",
        None,
        None,
        "auto",
        None,
    )


def test_values_and_a_bad_backend():
    a = _parser().parse_args(["--emotions", "calm,bored", "--modalities", "av", "--face-backend", "pyfeat"])
    assert (a.emotions, a.modalities, a.face_backend) == ("calm,bored", "av", "pyfeat")
    with pytest.raises(SystemExit):
        _parser().parse_args(["--face-backend", "dlib"])


def test_file_and_run_share_the_wording():
    from livemer import cli

    helps = {}
    for cmd in ("file", "run"):
        p = cli.build_parser()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[cmd]
        helps[cmd] = {a.dest: a.help for a in sub._actions if a.dest in ("emotions", "modalities", "asr_model")}
    assert helps["file"] == helps["run"] and len(helps["file"]) == 3
