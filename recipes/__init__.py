"""The recipe of the embedded default checkpoint (``assets/default.ckpt``) and its model card.

Module map:
  corpora         RAVDESS / GoEmotions / MELD readers and label maps
  faces, speech   face photos and multilingual speech through livemer's live extractors
  feature_cache   on-disk cache of extracted features, keyed by file content and extractor version
  extraction      a cached per-file extraction over a small process pool, with a report
  recipe_extract  cached extraction of RAVDESS audio through livemer's own extractors
  recipe_data     training/validation windows built from the cache through the live adapters
  splits          group-disjoint (speaker, photo, corpus) splits
  mixing          single-corpus batches with per-corpus label masks
  baselines       EF-LSTM early-fusion baseline
  recipe_default  the stages (checkpoint, protocols) and the command line
  model_card      MODEL_CARD.template.md filled from the results JSON

``recipes`` uses ``model`` and ``feature_adapters``; neither imports ``recipes``.
"""
