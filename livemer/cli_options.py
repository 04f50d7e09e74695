"""Command-line options that several livemer commands share (one wording, one default)."""

from __future__ import annotations

import argparse


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    """``--emotions`` and ``--modalities``: what is scored and from which modalities."""
    p.add_argument(
        "--emotions",
        metavar="LIST",
        help="comma-separated emotions to score (default: the model's set plus your added ones)",
    )
    p.add_argument(
        "--modalities",
        default="tav",
        metavar="tav",
        help="modalities to fuse: letters t (text), a (acoustic), v (visual); default tav",
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--glove``, ``--face-backend``, ``--asr-model``: the models a run loads."""
    p.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: the embedded one)")
    p.add_argument("--glove", metavar="PATH", help="GloVe text file when the checkpoint does not use GloVe 6B 50-d")
    p.add_argument(
        "--face-backend",
        default="auto",
        choices=("auto", "mediapipe", "pyfeat"),
        help="face analysis backend (default: auto)",
    )
    p.add_argument(
        "--asr-model",
        metavar="NAME|DIR",
        help="Whisper model: a local CTranslate2 directory or a cached size name (default: the bundled tiny.en)",
    )
