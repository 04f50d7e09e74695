"""The recipe of the embedded default checkpoint (``assets/default.ckpt``) and its model card.

Module map:
  corpora         RAVDESS / GoEmotions / MELD readers and label maps
  feature_cache   on-disk cache of extracted features, keyed by file content and extractor version
  recipe_extract  cached extraction of RAVDESS audio through livemer's own extractors
  recipe_data     training/validation datasets built from the cache through the live adapters
  mixing          single-corpus batches with per-corpus label masks
  baselines       EF-LSTM early-fusion baseline
  recipe_default  the stages (checkpoint, protocols) and the command line

``recipes`` uses ``model`` and ``feature_adapters``; neither imports ``recipes``.
"""
