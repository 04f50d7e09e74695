"""The ``livemer`` command line. Each subcommand lives in its own ``cmd_*`` module.

Heavy libraries (torch, cv2, mediapipe, faster-whisper) are imported inside the
subcommands, so ``livemer --help`` and error paths stay fast.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import sys

from . import __version__

# (module, purpose) in the order shown by --help
COMMAND_MODULES = (
    "livemer.cmd_run",
    "livemer.cmd_file",
    "livemer.cmd_demo",
    "livemer.cmd_emotions",
    "livemer.cmd_inspect",
    "livemer.cmd_train",
    "livemer.cmd_evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livemer",
        description="Real-time multimodal emotion recognition (text, voice, face) with emotion embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"livemer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # subcommand not available in this build
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="livemer: %(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import LivemerError, first_line

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("livemer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except LivemerError as exc:  # every expected error derives from it
        if args.debug:
            raise
        print(f"livemer: error: {first_line(exc)}", file=sys.stderr)
        return int(exc.exit_code)
    except Exception as exc:  # a bug: still one line unless --debug
        if args.debug:
            raise
        first = first_line(exc, "")
        print(
            f"livemer: error: unexpected {type(exc).__name__}: {first} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1


def entry() -> int:
    """The ``livemer`` console script: :func:`main`, with native libraries' log chatter filtered
    from stderr (unless ``--debug``)."""
    argv = sys.argv[1:]
    if "--debug" not in argv:
        from .native_logs import filter_native_stderr

        filter_native_stderr()
    code = main(argv)
    if "sounddevice" in sys.modules:
        # PortAudio loads libjack (C++), whose static destructors abort the process now and then at exit
        # ("terminate called without an active exception", exit 134) when no JACK server ran. Everything
        # livemer writes is closed by now: run Python's exit handlers, then leave without native teardown.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        atexit._run_exitfuncs()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
