"""Live feature extractors and adapters into the model's feature layouts.

Module map (see README):
  spaces      FeatureSpace: a named, column-described feature layout
  embeddings  word-vector providers (GloVe 6B 50-d default, GloVe text files)
  windows     Step/Window dataclasses: what the model consumes
  align       word-level alignment of frame features into windows (pure)

This package never imports ``model``: data flows capture -> features ->
windows -> model -> sinks.
"""
