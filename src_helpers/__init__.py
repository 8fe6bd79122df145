"""Helpers for the emotion-classification notebooks."""

import warnings

# In a Jupyter kernel without ipywidgets (the headless papermill runs; the project does not need widgets),
# ``tqdm.auto`` (used by transformers, sentence-transformers...) falls back to its text progress bar and says so
# with a TqdmWarning "IProgress not found. Please update jupyter and ipywidgets" in every notebook that trains.
# The text bar is what these runs want; nothing needs updating.
warnings.filterwarnings("ignore", message="IProgress not found", module=r"tqdm(\.|$)")
