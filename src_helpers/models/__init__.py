"""Neural text classifiers (LSTM, GRU, xLSTM, RWKV) behind one interface; see ``classifier.py``."""

from .classifier import ARCHS, EmotionClassifier, ModelConfig, build_model

__all__ = ["ARCHS", "EmotionClassifier", "ModelConfig", "build_model"]
