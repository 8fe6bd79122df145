"""Named experiments, run folders and Optuna studies."""
