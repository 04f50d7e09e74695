"""livemer: real-time multimodal emotion recognition with modality-transferable
emotion embeddings (Dai et al., AACL 2020).

Module map (details in README):
  cli            argument parsing; dispatches to cmd_* modules
  errors         LivemerError and the exceptions reported as one-line errors
  registry       per-user registry of added emotions (zero-shot)
  emotions_set   which emotions a run scores: checkpoint display set + user additions
  cmd_*          one module per subcommand (emotions, add-emotion, inspect, train, evaluate, run, file)
  api            the Python API: analyze(path) -> Analysis, Recognizer (push frames and audio)
"""

__version__ = "0.1.0"

__all__ = ["analyze", "Analysis", "Recognizer", "__version__"]


def __getattr__(name: str):
    """The Python API, imported on first use (``import livemer`` itself stays cheap)."""
    if name in ("analyze", "Analysis", "Recognizer"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'livemer' has no attribute {name!r}")
