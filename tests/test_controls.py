"""Controls: the random rankings are fresh per (seed, repeat, fold), so their expected C-index is 0.5."""

from __future__ import annotations

import numpy as np
from sksurv.metrics import concordance_index_censored

from oncobench.baselines.controls import KaplanMeierControl, RandomControl, fold_seed


def _outcome(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    return np.array(list(zip(event.astype(bool), time.astype(float))), dtype=[("event", "?"), ("time", "<f8")])


def _fold(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    return {"rna": rng.standard_normal((n, 2))}, _outcome(rng.random(n) < 0.5, rng.exponential(100.0, n))


def test_km_control_draws_a_fresh_vector_per_fold() -> None:
    rng = np.random.default_rng(0)
    X_a, y_a = _fold(rng, 80)
    X_b, y_b = _fold(rng, 80)
    X_test = {"rna": np.zeros((20, 2))}
    a = KaplanMeierControl(random_state=0).fit(X_a, y_a).predict(X_test)
    b = KaplanMeierControl(random_state=0).fit(X_b, y_b).predict(X_test)
    assert not np.allclose(a, b)  # two folds of equal size: different rankings
    again = KaplanMeierControl(random_state=0).fit(X_a, y_a).predict(X_test)
    assert np.array_equal(a, again)  # deterministic for (seed, fold)
    other_seed = KaplanMeierControl(random_state=1).fit(X_a, y_a).predict(X_test)
    assert not np.allclose(a, other_seed)
    assert fold_seed(0, X_a, y_a) == fold_seed(0, X_a, y_a) != fold_seed(0, X_b, y_b)


def test_km_control_mean_c_is_one_half_over_many_folds() -> None:
    # One test set scored by 400 controls trained on 400 different training folds of the same size: with
    # a vector reused on every fold (the old behaviour) all 400 C-indices were identical.
    rng = np.random.default_rng(1)
    test_event, test_time = rng.random(60) < 0.6, rng.exponential(100.0, 60)
    X_test = {"rna": np.zeros((60, 2))}
    cs = []
    for _ in range(400):
        X, y = _fold(rng, 120)
        risk = KaplanMeierControl(random_state=0).fit(X, y).predict(X_test)
        cs.append(concordance_index_censored(test_event, test_time, risk)[0])
    cs = np.array(cs)
    assert len(np.unique(cs)) > 100  # C takes discrete values: ties between folds are expected
    # se of the mean ~ 0.05 / sqrt(400) = 0.0025
    assert abs(cs.mean() - 0.5) < 0.01
    assert 0.02 < cs.std() < 0.08


def test_random_control_is_fresh_per_fold_for_every_kind() -> None:
    rng = np.random.default_rng(2)
    X_test = {"rna": np.zeros((15, 2))}
    X_a, y_a = _fold(rng, 50)
    X_b, y_b = _fold(rng, 50)
    for kind, ya, yb in [("survival", y_a, y_b), ("classification", np.array(list("abc") * 16 + ["a", "b"]),
                                                     np.array(list("bca") * 16 + ["a", "c"])),
                         ("clustering", None, None)]:
        a = RandomControl(kind=kind, random_state=0).fit(X_a, ya)
        b = RandomControl(kind=kind, random_state=0).fit(X_b, yb)
        pa = a.predict_proba(X_test) if kind == "classification" else a.predict(X_test)
        pb = b.predict_proba(X_test) if kind == "classification" else b.predict(X_test)
        assert not np.array_equal(pa, pb), kind
