"""Baselines for the clustering and translation tasks.

References
----------
Lloyd SP. Least squares quantization in PCM. IEEE Trans Inf Theory 28(2), 1982 (k-means).
Hoerl AE, Kennard RW. Ridge regression. Technometrics 12(1), 1970.
"""

from __future__ import annotations

from sklearn.cluster import KMeans
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor

from oncobench.baselines.fusion import EarlyFusion
from oncobench.baselines.registry import register_model
from oncobench.baselines.tuning import TunedModel, tuned

EARLY = ("early fusion: per-modality median imputation + presence flag and scaling (training fold), concatenated; "
         "no variance cut")


@register_model("kmeans", summary="k-means on the early-fused features (k = number of reference classes)",
                reference="Lloyd, IEEE TIT 1982", kinds=("clustering",), modality_handling=EARLY, missing="impute")
def kmeans(random_state: int = 0, n_clusters: int = 5) -> EarlyFusion:
    return EarlyFusion(KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state))


@register_model("ridge", summary="Multi-output ridge regression; alpha tuned in the training fold",
                reference="Hoerl & Kennard, Technometrics 1970", kinds=("translation",), modality_handling=EARLY,
                missing="impute")
def ridge(random_state: int = 0) -> TunedModel:
    return tuned("ridge", EarlyFusion(Ridge(alpha=10.0)), "translation", random_state)


@register_model("knn-regressor", summary="k-nearest-neighbour regression; k and weighting tuned in the training fold",
                reference="Cover & Hart, IEEE TIT 1967", kinds=("translation",), modality_handling=EARLY, missing="impute")
def knn_regressor(random_state: int = 0) -> TunedModel:
    return tuned("knn-regressor", EarlyFusion(KNeighborsRegressor(n_neighbors=15, weights="distance")), "translation",
                 random_state)
