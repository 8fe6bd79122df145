"""Neural text classifiers (LSTM, GRU, xLSTM, RWKV) behind one interface; see ``classifier.py``.

``ModelConfig`` and ``ARCHS`` load without torch (``config.py``); the torch classes load on first use."""

from .config import ARCHS, ModelConfig

__all__ = ["ARCHS", "EmotionClassifier", "ModelConfig", "build_model"]


def __getattr__(name: str):
    if name in ("EmotionClassifier", "build_model"):
        from . import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
