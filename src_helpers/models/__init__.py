"""Neural text classifiers (LSTM, GRU, xLSTM, RWKV) behind one interface (``classifier.py``); their settings,
``ModelConfig``, load without torch (``config.py``)."""

from .config import ARCHS, ModelConfig

__all__ = ["ARCHS", "ModelConfig"]
