"""Deep fusion models in PyTorch: per-modality encoders + fusion + head (see ``networks`` and ``estimator``)."""
