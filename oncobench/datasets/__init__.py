"""Datasets: sources -> harmonize -> store; dataset recipes; splits."""
