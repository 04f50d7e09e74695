"""The paper's network, checkpoints, inference, metrics, datasets and training.

Module map:
  config      ModelConfig: input dims, hidden sizes, layers, dropout
  network     EmotionEmbeddingNet: bi-LSTM encoders, f_t->a / f_t->v, scoring, masked fusion
  fusion      pure scoring/fusion functions (dot-product scores, renormalised weighted sum)
  normalize   per-modality feature normalisation statistics
  checkpoint  one self-describing checkpoint file (weights, config, spaces, stats, emotions, provenance)
  inference   Predictor and the typed EmotionPrediction result
  metrics     weighted accuracy, AUC, F1 (paper §5.3)

``model`` never imports capture code; it consumes arrays or ``feature_adapters.windows.Window``.
"""
