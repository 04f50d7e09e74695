"""Errors that the CLI reports as one line and a non-zero exit code."""
from __future__ import annotations


class LivemerError(Exception):
    """A user-facing error: printed as ``livemer: error: <message>``."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types from the other packages that are user errors, not bugs."""
    from feature_adapters.embeddings import EmbeddingProviderError, UnknownWordError
    from feature_adapters.spaces import FeatureSpaceMismatch
    from model.checkpoint import CheckpointError

    types: list[type[BaseException]] = [
        LivemerError, CheckpointError, UnknownWordError, EmbeddingProviderError, FeatureSpaceMismatch,
    ]
    for mod, name in (
        ("model.sdk", "DatasetError"),
        ("feature_adapters.audio_io", "AudioDecodeError"),
        ("feature_adapters.asr", "ASRModelError"),
        ("feature_adapters.face", "FaceBackendError"),
        ("livemer.media", "MediaError"),
        ("livemer.capture", "CaptureError"),
    ):
        try:
            module = __import__(mod, fromlist=[name])
            t = getattr(module, name, None)
            if isinstance(t, type):
                types.append(t)
        except Exception:
            pass
    return tuple(types)
