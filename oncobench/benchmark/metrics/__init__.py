"""Evaluator metrics, one module per task family.

Each function takes already-validated arrays and returns plain Python floats in
a dict with a stable key order; metric-specific impossibilities raise ValueError.
"""

from oncobench.benchmark.metrics.classification import classification_metrics
from oncobench.benchmark.metrics.clustering import clustering_metrics
from oncobench.benchmark.metrics.survival import survival_metrics
from oncobench.benchmark.metrics.translation import translation_metrics

__all__ = ["classification_metrics", "clustering_metrics", "survival_metrics", "translation_metrics"]
