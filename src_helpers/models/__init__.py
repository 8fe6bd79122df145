"""Neural text classifiers (LSTM, GRU, xLSTM, RWKV; ``classifier.py``); ``ModelConfig`` loads without torch."""

from .config import ARCHS, ModelConfig

__all__ = ["ARCHS", "ModelConfig"]
