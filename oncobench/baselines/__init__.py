"""Baseline models behind one registry (:mod:`oncobench.baselines.registry`): classical (scikit-learn, XGBoost),
Cox models, controls and clinical references, fusion wrappers (early / late), unsupervised models and deep fusion
(:mod:`oncobench.baselines.deep`, PyTorch). Models take a dict of modality matrices and never import the benchmark.
"""
