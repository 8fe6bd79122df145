"""Training: the RNN loop, the Hugging Face Trainer path, TF-IDF, checkpoints."""
