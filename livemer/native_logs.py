"""Keep native libraries' log chatter off the user's terminal.

MediaPipe (absl/glog) and TensorFlow Lite write INFO/WARNING lines such as
``W0000 00:00:... inference_feedback_manager.cc:114] Feedback manager ...``
straight to file descriptor 2 from C++ threads; no environment variable or
Python API turns them off. :func:`filter_native_stderr` routes descriptor 2
through a pipe whose reader drops those lines and forwards everything else,
while Python's own ``sys.stderr`` keeps writing to the real terminal directly
(so error messages can never be held up or lost by the filter). Native ERROR
and FATAL lines are kept. ``--debug`` leaves stderr untouched.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

#: absl/glog INFO and WARNING lines, and TFLite's and absl's start-up notices.
NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+\s+\d+ [\w.\-]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|INFO: Created TensorFlow Lite)"
)

_installed = False


def is_noise(line: bytes) -> bool:
    """A native log line that the user never needs to see."""
    return bool(NOISE.match(line))


def _pump(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as src:
        pending = b""
        while True:
            try:
                chunk = src.read(65536)
            except OSError:
                return
            if not chunk:
                if pending and not is_noise(pending):
                    os.write(out_fd, pending)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            keep = b"".join(ln + b"\n" for ln in lines if not is_noise(ln))
            if keep:
                try:
                    os.write(out_fd, keep)
                except OSError:
                    return


def filter_native_stderr() -> bool:
    """Install the filter once per process; False when it cannot be (then stderr is left alone)."""
    global _installed
    if _installed:
        return True
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, ValueError, AttributeError):
        return False
    stream = io.TextIOWrapper(
        io.FileIO(real, "w", closefd=False),
        encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = stream
    pump = threading.Thread(target=_pump, args=(read_fd, real), name="native-stderr", daemon=True)
    pump.start()

    def restore() -> None:  # at exit: give fd 2 back (the pipe then ends) and let the pump forward the rest
        try:
            os.dup2(real, 2)
        except OSError:
            return
        pump.join(timeout=1.0)

    atexit.register(restore)
    _installed = True
    return True
