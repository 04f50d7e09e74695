"""`livemer train` / `livemer evaluate` end to end on a planted CMU-MOSEI-format fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livemer.cli import main
from model.checkpoint import Checkpoint
from model.sdk import MOSEI_EMOTIONS
from model.synthetic import write_mosei_aligned

RENAMED = ["angry", "disgusted", "fearful", "happy", "sad", "surprised"]
FAST = [
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--lr",
    "3e-3",
    "--hidden",
    "16",
    "8",
    "--layers",
    "1",
    "--dropout",
    "0",
    "--threads",
    "1",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    """Planted MOSEI-aligned files plus a small GloVe text file with the real 6B 50-d vectors of the words used."""
    from feature_adapters.embeddings import get_provider

    d = tmp_path_factory.mktemp("cli_mosei")
    prov = get_provider()
    write_mosei_aligned(
        d / "data", prov.vectors(list(MOSEI_EMOTIONS)), sizes={"train": 240, "valid": 80, "test": 120}, signal=2.0
    )
    words = list(MOSEI_EMOTIONS) + [w for w in RENAMED if w not in MOSEI_EMOTIONS]
    with open(d / "glove.6B.50d.txt", "w") as fh:
        for w, v in zip(words, prov.vectors(words)):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    rng = np.random.default_rng(0)
    with open(d / "glove.tiny.20d.txt", "w") as fh:
        for w in words:
            fh.write(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=20)) + "\n")
    return d


def train(fixture_dir, out, *extra, progress=False):
    args = [
        "train",
        "--data",
        "mosei-aligned",
        str(fixture_dir / "data"),
        "--glove",
        str(fixture_dir / "glove.6B.50d.txt"),
        *FAST,
        "--out",
        str(out),
        *extra,
    ]
    if not progress:
        args.append("--no-progress")
    return main(args)


@pytest.mark.slow
def test_train_prints_the_paper_table_and_writes_json(fixture_dir, tmp_path, capsys):
    out, js = tmp_path / "m.ckpt", tmp_path / "m.json"
    assert train(fixture_dir, out, "--preset", "mosei", "--json", str(js), progress=True) == 0
    cap = capsys.readouterr()
    assert "train epoch 1: train loss" in cap.err and "valid W-Acc" in cap.err  # a line per epoch
    assert "batch" in cap.err  # the epoch bar
    lines = cap.out.splitlines()
    head = next(i for i, s in enumerate(lines) if s.split()[:4] == ["emotion", "W-Acc", "AUC", "F1"])
    assert [s.split()[0] for s in lines[head + 1 : head + 8]] == list(MOSEI_EMOTIONS) + ["average"]
    rep = json.loads(js.read_text())
    per = rep["results"]["tav"]["per_emotion"]
    assert list(per) == list(MOSEI_EMOTIONS) and 0.0 <= per["anger"]["auc"] <= 1.0
    assert rep["setting"] == "supervised" and len(rep["history"]["epochs"]) == 2
    ck = Checkpoint.load(out)
    assert ck.provenance["preset"] == "mosei" and ck.provenance["command"].startswith(
        "livemer train --data mosei-aligned"
    )
    assert "--zsl" not in ck.provenance["command"] and "--no-progress" not in ck.provenance["command"]
    assert ck.provenance["metrics"]["test_auc"] == pytest.approx(rep["results"]["tav"]["average"]["auc"])
    assert ck.feature_spaces["acoustic"].name == "covarep-74" and ck.feature_spaces["visual"].name == "facet-35"
    assert ck.embedding_space == "glove-6B-50d" == ck.feature_spaces["text"].name
    assert not (tmp_path / "m.ckpt.resume.pt").exists()

    # evaluate: the Table 6 ablation through the masks, with JSON
    js2 = tmp_path / "abl.json"
    assert (
        main(
            [
                "evaluate",
                str(out),
                "--data",
                "mosei-aligned",
                str(fixture_dir / "data"),
                "--modalities",
                "ablation",
                "--json",
                str(js2),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    assert "only V" in cap.out and "T+A+V" in cap.out
    rep2 = json.loads(js2.read_text())
    assert list(rep2["results"]) == ["tav", "ta", "tv", "av", "t", "a", "v"]
    assert rep2["results"]["tav"]["average"]["auc"] == pytest.approx(rep["results"]["tav"]["average"]["auc"])


@pytest.mark.slow
def test_zero_shot_then_few_shot_layouts(fixture_dir, tmp_path, capsys):
    z = tmp_path / "z.ckpt"
    assert train(fixture_dir, z, "--zsl", "fear", "--json", str(tmp_path / "z.json")) == 0
    cap = capsys.readouterr()
    assert "zero-shot" in cap.out and "fear (new)" in cap.out and "average except fear" in cap.out
    rep = json.loads((tmp_path / "z.json").read_text())
    assert set(rep["transfer"]["tav"]["new"]) == {"fear"}
    g = tmp_path / "g.ckpt"
    assert (
        train(
            fixture_dir,
            g,
            "--fsl",
            "fear",
            "--fsl-mode",
            "gem",
            "--init",
            str(z),
            "--gem-memory",
            "32",
            "--json",
            str(tmp_path / "g.json"),
        )
        == 0
    )
    cap = capsys.readouterr()
    assert "few-shot (GEM)" in cap.out and "fear (new)" in cap.out
    assert cap.out.index("before few-shot (source model, zero-shot)") < cap.out.index("few-shot (GEM)")
    rep = json.loads((tmp_path / "g.json").read_text())
    assert rep["source"]["new"]["fear"]["auc"] == pytest.approx(
        json.loads((tmp_path / "z.json").read_text())["transfer"]["tav"]["new"]["fear"]["auc"]
    )
    assert Checkpoint.load(g).provenance["few_shot"]["mode"] == "gem"
    # evaluating the few-shot checkpoint later gives the same layout
    assert (
        main(["evaluate", str(g), "--data", "mosei-aligned", str(fixture_dir / "data"), "--modalities", "tav,a"]) == 0
    )
    cap = capsys.readouterr()
    assert cap.out.count("few-shot (GEM)") == 2 and "modalities A" in cap.out


@pytest.mark.slow
def test_emotion_words_are_remembered_for_evaluation(fixture_dir, tmp_path, capsys):
    out = tmp_path / "r.ckpt"
    assert train(fixture_dir, out, "--emotion-words", ",".join(RENAMED), "--epochs", "1") == 0
    ck = Checkpoint.load(out)
    assert ck.emotion_words == RENAMED and ck.provenance["label_words"] == RENAMED
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", "mosei-aligned", str(fixture_dir / "data")]) == 0
    assert "surprised" in capsys.readouterr().out


def err_line(capsys) -> str:
    lines = [s for s in capsys.readouterr().err.splitlines() if s.startswith("livemer: error:")]
    assert len(lines) == 1
    return lines[0]


def test_text_dim_must_match_the_word_vectors(fixture_dir, tmp_path, capsys):
    args = [
        "train",
        "--data",
        "mosei-aligned",
        str(fixture_dir / "data"),
        "--glove",
        str(fixture_dir / "glove.tiny.20d.txt"),
        "--out",
        str(tmp_path / "x.ckpt"),
        "--no-progress",
    ]
    assert main(args) == 2
    msg = err_line(capsys)
    assert "50-d" in msg and "glove-tiny-20d are 20-d" in msg and "--glove" in msg


def test_bad_data_gives_one_line_errors(fixture_dir, tmp_path, capsys):
    assert main(["train", "--data", "mosei-aligned", str(tmp_path / "nope"), "--out", str(tmp_path / "x.ckpt")]) == 2
    assert "not found" in err_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", "mosei-aligned", str(tmp_path / "empty"), "--out", str(tmp_path / "x.ckpt")]) == 2
    msg = err_line(capsys)
    assert "text_train_emb.h5" in msg and "not found" in msg
    assert main(["train", "--data", "bogus", str(tmp_path), "--out", str(tmp_path / "x.ckpt")]) == 2
    assert "unknown kind" in err_line(capsys)
    assert train(fixture_dir, tmp_path / "x.ckpt", "--zsl", "calm") == 2
    assert "--zsl calm: not an emotion" in err_line(capsys)


def test_train_from_sdk_computational_sequences(tmp_path, capsys):
    """--data csd: word vectors, COVAREP, Facet and label .csd files with a folds.json."""
    from test_sdk import make_sdk_dir

    vids = tuple(f"vid{i}" for i in range(6))
    make_sdk_dir(tmp_path, vids=vids, with_folds=False)
    (tmp_path / "folds.json").write_text(
        json.dumps({"train": list(vids[:3]), "valid": [vids[3]], "test": list(vids[4:])})
    )
    rng = np.random.default_rng(1)
    glove = tmp_path / "glove.tiny.8d.txt"
    glove.write_text("".join(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=8)) + "\n" for w in MOSEI_EMOTIONS))
    out = tmp_path / "c.ckpt"
    assert (
        main(
            [
                "train",
                "--data",
                "csd",
                str(tmp_path),
                "--glove",
                str(glove),
                *FAST,
                "--epochs",
                "1",
                "--seq-len",
                "10",
                "--early-stop",
                "3",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    assert "csd/train: 6 samples, T=10" in cap.err and "csd/test (4 samples)" in cap.out
    ck = Checkpoint.load(out)
    assert ck.config.input_dims == {"text": 8, "acoustic": 74, "visual": 35}
    assert ck.provenance["data"].startswith("csd:")
