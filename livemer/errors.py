"""Errors that the CLI reports as one line and a non-zero exit code."""
from __future__ import annotations

import sys


class LivemerError(Exception):
    """A user-facing error: printed as ``livemer: error: <message>``."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message (for one-line reports); ``default`` (else the exception's
    type name) when the message is empty."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exception types from the other packages that are user errors, not bugs."""
    types: list[type[BaseException]] = [LivemerError]
    for mod, name in (
        ("model.checkpoint", "CheckpointError"),
        ("feature_adapters.embeddings", "UnknownWordError"),
        ("feature_adapters.embeddings", "EmbeddingProviderError"),
        ("feature_adapters.spaces", "FeatureSpaceMismatch"),
        ("model.sdk", "DatasetError"),
        ("model.datasets", "DatasetShapeError"),
        ("model.training", "TrainingError"),
        ("recipes.feature_cache", "FeatureCacheError"),
        ("recipes.recipe_extract", "ExtractionError"),
        ("feature_adapters.audio_io", "AudioDecodeError"),
        ("feature_adapters.acoustic", "AcousticInputError"),
        ("feature_adapters.covarep", "CovarepAdapterError"),
        ("feature_adapters.asr", "ASRError"),
        ("feature_adapters.face", "FaceError"),
        ("feature_adapters.facet", "FacetInputError"),
        ("feature_adapters.align", "AlignmentError"),
    ):
        # only modules already imported can have raised their errors: importing
        # the others here would cost seconds on every error path
        t = getattr(sys.modules.get(mod), name, None)
        if isinstance(t, type):
            types.append(t)
    return tuple(types)
