"""Helpers for the emotion-classification notebooks."""

import warnings

# Without ipywidgets (headless papermill runs) ``tqdm.auto`` falls back to its text bar, which these runs want, and
# warns "IProgress not found. Please update jupyter and ipywidgets" in every notebook that trains: not needed.
warnings.filterwarnings("ignore", message="IProgress not found", module=r"tqdm(\.|$)")
