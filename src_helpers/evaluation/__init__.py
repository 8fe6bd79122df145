"""Scoring runs: metrics, statistics, tables, figures, calibration, ensembles, error analysis."""
