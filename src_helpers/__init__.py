"""Helpers for the emotion-classification notebooks."""
