"""livemer.native_logs: native absl/TFLite chatter is dropped from stderr, everything else kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livemer.native_logs import is_noise


def test_is_noise_matches_absl_and_tflite_info_and_warnings_only():
    assert is_noise(b"W0000 00:00:1795493973.022581   25483 face_landmarker_graph.cc:174] Sets FaceBlendshapesGraph")
    assert is_noise(b"I1124 04:14:10.123456  123 gl_context.cc:357] GL version: 3.2")
    assert is_noise(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert is_noise(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not is_noise(b"E0000 00:00:1795493973.022581   25483 graph.cc:1] a real native error")
    assert not is_noise(b"livemer: error: --camera 7: no camera with index 7")
    assert not is_noise(b"Warning: something from Python")


@pytest.mark.slow
def test_filter_keeps_python_and_native_errors_and_drops_noise():
    script = (
        "import os, sys\n"
        "from livemer.native_logs import filter_native_stderr\n"
        "assert filter_native_stderr()\n"
        "os.write(2, b'W0000 00:00:1795493973.022581   25483 face_landmarker_graph.cc:174] noise\\n')\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'a native line\\n')\n"
        "print('livemer: error: from python', file=sys.stderr)\n"
        "os.write(2, b'tail without newline')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    err = out.stderr.decode()
    assert out.returncode == 0, err
    assert "livemer: error: from python" in err
    assert "a native line" in err and "tail without newline" in err
    assert "noise" not in err and "TensorFlow Lite" not in err
