"""The paper's network, checkpoints, inference, metrics, datasets and training.

Module map:
  config      ModelConfig: input dims, hidden sizes, layers, dropout
  network     EmotionEmbeddingNet: bi-LSTM encoders, f_t->a / f_t->v, scoring, masked fusion
  fusion      pure scoring/fusion functions (dot-product scores, renormalised weighted sum)
  normalize   per-modality feature normalisation statistics
  checkpoint  one self-describing checkpoint file (weights, config, spaces, stats, emotions, provenance)
  inference   Predictor and the typed EmotionPrediction result
  metrics     weighted accuracy, AUC, F1 (paper §5.3)
  datasets    EmotionDataset: the one dataset type (tensors, masks, multi-hot labels, label masks)
  sdk         CMU-MOSEI aligned h5, MulT pickles, raw SDK .csd reading and word-level alignment
  presets     Table 3 hyper-parameters (--preset mosei / iemocap)
  gem         gradient episodic memory: closed-form single-constraint projection
  training    supervised, zero-shot and few-shot (FT / JT / GEM) protocols, resumable
  evaluation  checkpoint evaluation for any modality subset; Table 4 / 6 layouts
  synthetic   planted-signal fixtures for learnability and zero-shot checks

The default checkpoint's recipe (corpora, cached extraction, mixing, the EF-LSTM
baseline, the model card) lives in the top-level ``recipes`` package.

``model`` never imports ``livemer``, ``recipes`` or capture code, and parses no CLI arguments; it consumes arrays or ``feature_adapters.windows.Window``.
"""
