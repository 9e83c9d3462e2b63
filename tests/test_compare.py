"""Paired comparisons (corrected resampled t-test, Wilcoxon), common folds, the fusion verdict, bootstrap
intervals, mean ranks and the critical-difference diagram; then the results table of a real run on tcga-mini."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from oncobench.benchmark import compare


# ---- the tests themselves ----------------------------------------------------------------------------------
def test_corrected_resampled_ttest_matches_a_hand_computation() -> None:
    # d = (0.02, 0.05, -0.01, 0.04, 0.03), 20 test / 80 training patients per fold:
    # mean 0.026; sample variance (0.006² + 0.024² + 0.036² + 0.014² + 0.004²) / 4 = 0.00212 / 4 = 0.00053;
    # corrected variance of the mean (1/5 + 20/80) * 0.00053 = 0.0002385; t = 0.026 / sqrt(0.0002385) = 1.683562
    t, p = compare.corrected_resampled_ttest([0.02, 0.05, -0.01, 0.04, 0.03], 20 / 80)
    assert t == pytest.approx(1.683562161, abs=1e-8)
    assert p == pytest.approx(2 * stats.t.sf(1.683562161, df=4), abs=1e-9)
    assert p == pytest.approx(0.16755, abs=1e-4)
    # the correction only rescales the ordinary one-sample t (scipy) by sqrt((1/J) / (1/J + n_test/n_train))
    plain = stats.ttest_1samp([0.02, 0.05, -0.01, 0.04, 0.03], 0.0).statistic
    assert t == pytest.approx(plain * math.sqrt(0.2 / 0.45), rel=1e-12)
    # degenerate inputs: no difference; a constant difference; one fold
    assert compare.corrected_resampled_ttest([0.0] * 5, 0.25) == (0.0, 1.0)
    assert compare.corrected_resampled_ttest([0.01] * 5, 0.25) == (math.inf, 0.0)
    assert all(math.isnan(v) for v in compare.corrected_resampled_ttest([0.01], 0.25))
    with pytest.raises(ValueError, match="n_test / n_train must be a positive number"):
        compare.corrected_resampled_ttest([0.01, 0.02], 0.0)


def test_wilcoxon_agrees_with_scipy_and_a_textbook_example() -> None:
    # Darwin's Zea mays differences (Fisher 1935), scipy's documented example: W = 24, exact p = 0.041259765625
    darwin = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    assert compare.wilcoxon_p(darwin) == 0.041259765625
    # five folds all in one direction: the smallest exact two-sided p is 2 / 2^5 = 0.0625 (never < 0.05)
    assert compare.wilcoxon_p([0.01, 0.03, 0.02, 0.05, 0.04]) == 0.0625
    rng = np.random.default_rng(3)
    d = rng.normal(0.01, 0.02, size=10)
    assert compare.wilcoxon_p(d) == stats.wilcoxon(d).pvalue
    assert compare.wilcoxon_p([0.0, 0.0, 0.0]) == 1.0 and math.isnan(compare.wilcoxon_p([0.0, 0.0, 0.1]))


def _per_fold(scores: dict[str, dict[tuple[int, int], list[float]]]) -> pl.DataFrame:
    """A synthetic per-fold table: model -> (repeat, fold) -> one score per seed."""
    rows = [{"model": m, "repeat": r, "fold": f, "seed": s, "uno_c": v}
            for m, folds in scores.items() for (r, f), seeds in folds.items() for s, v in enumerate(seeds)]
    return pl.DataFrame(rows)


def test_seeds_are_averaged_and_comparisons_use_common_folds_only() -> None:
    a = {(0, f): [0.60 + 0.01 * f, 0.62 + 0.01 * f] for f in range(5)}  # seed mean 0.61 + 0.01 f
    b = {(0, f): [0.55, 0.57] for f in range(5) if f != 3}  # fold 3 failed: seed mean 0.56
    b[(0, 4)] = [0.58, math.nan]  # seed 1 of fold 4 undefined: fold 4 is seed 0 alone
    scores = compare.fold_scores(_per_fold({"a": a, "b": b}), "uno_c")
    assert scores.filter(pl.col("model") == "a")["score"].to_list() == pytest.approx([0.61, 0.62, 0.63, 0.64, 0.65])
    assert scores.filter(pl.col("model") == "b")["seeds"].to_list() == [2, 2, 2, 1]
    assert compare.completion(scores) == {"a": (5, 5), "b": (4, 5)}
    seen: list[list[tuple[int, int]]] = []

    def ratio(units: list[tuple[int, int]]) -> float:
        seen.append(units)
        return 0.25

    test = compare.paired_test(scores, "a", "b", ratio)
    diffs = [0.61 - 0.56, 0.62 - 0.56, 0.63 - 0.56, 0.65 - 0.58]  # folds 0, 1, 2, 4
    assert seen == [[(0, 0), (0, 1), (0, 2), (0, 4)]]
    assert test.n_folds == 4 and test.mean_diff == pytest.approx(np.mean(diffs), abs=1e-12)
    t, p = compare.corrected_resampled_ttest(diffs, 0.25)
    assert (test.t, test.p_t) == pytest.approx((t, p), abs=1e-12)
    assert test.p_wilcoxon == pytest.approx(stats.wilcoxon(diffs).pvalue, abs=1e-12)
    # a model and one it never shares a fold with: nothing to test
    none = compare.paired_test(scores.filter(~((pl.col("model") == "b") & (pl.col("fold") != 3)) | (pl.col("model") == "a")),
                               "a", "b", ratio)
    assert none.n_folds == 0 and math.isnan(none.p_t)


@pytest.mark.parametrize(("spec", "registered", "expected"), [
    ("coxnet/rna", None, "single"), ("coxnet:late-cox/rna", None, "single"), ("coxnet/rna+cnv", None, "fusion"),
    ("coxnet:late-cox", None, "fusion"), ("clinical-fusion", None, "fusion"), ("mogonet", None, "fusion"),
    ("coxnet", None, "fusion"), ("clinical-cox", ("clinical",), "single")])
def test_modality_class_follows_the_spec_syntax(spec: str, registered, expected: str) -> None:
    assert compare.modality_class(spec, ("rna", "cnv", "mutation"), registered) == expected
    assert compare.modality_class("coxnet", ("rna",)) == "single"  # a one-modality task: every model is single
    assert compare.spec_parts("coxnet:late-cox/rna+cnv") == ("coxnet", "late-cox", ("rna", "cnv"))


def _synthetic_results(offsets: dict[str, float], noise: float = 0.004, missing: dict[str, int] | None = None):
    rng = np.random.default_rng(0)
    base = [0.60, 0.66, 0.58, 0.63, 0.61]
    scores = {m: {(0, f): [base[f] + off + rng.normal(0, noise), base[f] + off + rng.normal(0, noise)]
                  for f in range(5) if (missing or {}).get(m) != f} for m, off in offsets.items()}
    per_fold = _per_fold(scores)
    fold = compare.fold_scores(per_fold, "uno_c")
    done = compare.completion(fold)
    roles = {"km": "control", "clinical-cox": "clinical reference"}
    registered = {"clinical-cox": ("clinical",)}
    rows = [{"model": m, "role": roles.get(m, "model"), "class": compare.modality_class(m, ("rna", "cnv", "clinical"), registered.get(m)),
             "mean": float(np.mean([v for s in scores[m].values() for v in s])), "folds_done": done[m][0],
             "folds_expected": done[m][1]} for m in offsets]
    return compare.comparison_columns(rows, fold, True, lambda units: 0.25)


def test_verdict_names_best_single_modality_clinical_and_a_fusion_that_beats_both() -> None:
    rows = _synthetic_results({"coxnet/rna": 0.02, "coxnet/cnv": 0.00, "clinical-cox": 0.03, "km": -0.11,
                               "coxnet:late-cox/rna+cnv": 0.025, "clinical-fusion": 0.08})
    by = {r["model"]: r for r in rows}
    assert by["clinical-fusion"]["vs_single_model"] == "coxnet/rna" and by["clinical-fusion"]["vs_clinical_model"] == "clinical-cox"
    assert by["coxnet/rna"]["vs_best_model"] == "clinical-fusion" and math.isnan(by["clinical-fusion"]["vs_best_diff"])
    assert by["clinical-fusion"]["vs_clinical_diff"] == pytest.approx(0.05, abs=0.006)
    v = compare.verdict(rows, higher_is_better=True)
    assert v.single[0] == "coxnet/rna" and v.clinical[0] == "clinical-cox" and v.fusion[0] == "clinical-fusion"
    assert v.winners == ("clinical-fusion",)  # late-cox is below the clinical reference: not a winner
    assert "fusion beats both (corrected t, p < 0.05): yes — clinical-fusion" in v.text("uno_c")
    # no fusion better than the clinical reference
    v = compare.verdict(_synthetic_results({"coxnet/rna": 0.02, "clinical-cox": 0.03, "coxnet:late-cox/rna+cnv": 0.025}), True)
    assert v.winners == () and "fusion beats both (corrected t, p < 0.05): no (best fusion coxnet:late-cox/rna+cnv" in v.text("uno_c")
    # a fusion ahead by 0.01 with fold noise of the same size: not significant
    v = compare.verdict(_synthetic_results({"coxnet/rna": 0.0, "clinical-cox": 0.0, "clinical-fusion": 0.01}, noise=0.02), True)
    assert v.winners == ()
    # without a single-modality run the question has no answer, and the text says so
    v = compare.verdict(_synthetic_results({"clinical-cox": 0.03, "clinical-fusion": 0.08}), True)
    assert v.single is None and "cannot tell without a single-modality run" in v.text("uno_c")


def test_a_model_with_a_failed_fold_is_not_the_best_baseline_and_is_compared_on_common_folds() -> None:
    rows = _synthetic_results({"coxnet/rna": 0.02, "clinical-cox": 0.03, "lucky": 0.10}, missing={"lucky": 2})
    by = {r["model"]: r for r in rows}
    assert (by["lucky"]["folds_done"], by["lucky"]["folds_expected"]) == (4, 5)
    assert by["coxnet/rna"]["vs_best_model"] == "clinical-cox"  # complete models only
    assert by["lucky"]["vs_clinical_n"] == 4 and by["coxnet/rna"]["vs_clinical_n"] == 5


def test_bootstrap_interval_is_seeded_and_agrees_with_scipy() -> None:
    x = np.random.default_rng(1).normal(0.7, 0.1, size=200)
    mine = compare.bootstrap_interval(lambda rows: float(x[rows].mean()), len(x), n_boot=4000, seed=7)
    assert mine == compare.bootstrap_interval(lambda rows: float(x[rows].mean()), len(x), n_boot=4000, seed=7)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", random_state=0).confidence_interval
    assert mine.estimate == pytest.approx(x.mean(), abs=1e-15)
    assert (mine.low, mine.high) == pytest.approx((ref.low, ref.high), abs=0.004)  # two Monte Carlo runs
    diff = compare.bootstrap_interval(lambda rows: float(x[rows].mean()) - 0.5, len(x), n_boot=500, null=0.0)
    assert diff.p == 0.0 and diff.low > 0
    same = compare.bootstrap_interval(lambda rows: 0.0 * float(x[rows].mean()), len(x), n_boot=200, null=0.0)
    assert same.p == 1.0

    def undefined_half(rows: np.ndarray) -> float:
        if rows[0] % 2:
            raise ValueError("no event")
        return float(x[rows].mean())

    some = compare.bootstrap_interval(undefined_half, len(x), n_boot=300)
    assert 100 < some.n_failed < 200


def _rank_table() -> pl.DataFrame:
    # 6 tasks x 4 models; on t5 "b" and "c" tie (average rank 2.5); t6 is a loss (lower is better)
    return pl.DataFrame({
        "task": ["t1", "t2", "t3", "t4", "t5", "t6"],
        "a": [0.90, 0.80, 0.70, 0.95, 0.85, 0.10],
        "b": [0.85, 0.82, 0.65, 0.90, 0.60, 0.20],
        "c": [0.80, 0.70, 0.66, 0.85, 0.60, 0.30],
        "d": [0.50, 0.50, 0.50, 0.50, 0.50, 0.90],
    })


def test_mean_ranks_and_critical_difference_diagram(tmp_path: Path) -> None:
    higher = {"t1": True, "t2": True, "t3": True, "t4": True, "t5": True, "t6": False}
    # by hand: a = (1+2+1+1+1+1)/6 = 7/6; b = (2+1+3+2+2.5+2)/6 = 12.5/6; c = (3+3+2+3+2.5+3)/6 = 16.5/6; d = 4
    ranks = compare.mean_ranks(_rank_table(), higher)
    assert ranks == pytest.approx({"a": 7 / 6, "b": 12.5 / 6, "c": 16.5 / 6, "d": 4.0}, abs=1e-12)
    assert list(ranks) == ["a", "b", "c", "d"]
    png = tmp_path / "cd.png"
    auto, cd = compare.critical_difference(_rank_table(), png, higher)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    assert auto == pytest.approx(ranks, abs=1e-12)  # autorank's ranks equal the hand computation
    # Nemenyi: q_0.05(k=4) = 2.569 (Demsar 2006, table 5a); CD = q * sqrt(k (k + 1) / (6 N)) with N = 6
    assert cd == pytest.approx(2.569 * math.sqrt(4 * 5 / 36), abs=2e-3)
    table, left_out = compare.complete_block({"t1": {"a": 0.9, "b": 0.8}, "t2": {"a": 0.7, "c": 0.6}})
    assert table.columns == ["task", "a"] and left_out == ["b", "c"]
    with pytest.raises(ValueError, match="needs at least 5 tasks and 3 models run on all of them; found 4 tasks"):
        compare.critical_difference(_rank_table().head(4), tmp_path / "x.png", higher)


# ---- the real thing: runner -> MLflow -> results text, leaderboard page ------------------------------------
@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_results_on_tcga_mini_show_paired_columns_and_mark_failed_folds(home: Path, tmp_path: Path) -> None:
    from oncobench.benchmark.results import (by_cohort_table, format_by_cohort, format_per_fold, format_results,
                                             per_fold_table, results_table)
    from oncobench.benchmark.runner import run_grid
    from oncobench.benchmark.tasks import load_task
    from oncobench.benchmark.tracking import Tracker

    task = load_task("pancan-type", dataset="tcga-mini")
    report = run_grid([task], ["logreg"], progress=False)  # + prior and clinical-logreg, 5 folds
    assert report.failed == [] and report.ran == 15
    run_grid([task], ["knn"], folds=[0, 1, 2, 4], controls=False, progress=False)  # fold 3 "failed"
    table = results_table(task)
    by = {r["model"]: r for r in table.iter_rows(named=True)}
    assert (by["logreg"]["folds_done"], by["knn"]["folds_done"], by["knn"]["folds_expected"]) == (5, 4, 5)
    # the corrected t-test vs the clinical reference, recomputed here from the per-fold table and the splits
    folds = per_fold_table(task)
    score = {(r["model"], r["fold"]): r["macro_f1"] for r in folds.iter_rows(named=True)}
    diffs = [score[("logreg", f)] - score[("clinical-logreg", f)] for f in range(5)]
    splits = [task.get_split(f, 0) for f in range(5)]
    ratio = np.mean([len(s.test) for s in splits]) / np.mean([len(s.train) for s in splits])
    d = np.asarray(diffs)
    t = d.mean() / math.sqrt((1 / 5 + ratio) * d.var(ddof=1))
    assert by["logreg"]["vs_clinical_diff"] == pytest.approx(d.mean(), abs=1e-12)
    assert by["logreg"]["vs_clinical_p_t"] == pytest.approx(2 * stats.t.sf(abs(t), 4), rel=1e-9)
    assert by["logreg"]["vs_clinical_p_w"] == pytest.approx(stats.wilcoxon(d).pvalue, abs=1e-12)
    knn_common = [score[("knn", f)] - score[("clinical-logreg", f)] for f in (0, 1, 2, 4)]
    assert by["knn"]["vs_clinical_n"] == 4 and by["knn"]["vs_clinical_diff"] == pytest.approx(np.mean(knn_common), abs=1e-12)
    assert by["knn"]["vs_best_model"] == max(("logreg", "clinical-logreg"), key=lambda m: by[m]["macro_f1_mean"])
    text = format_results(task, table)
    assert "vs clinical Δ (p_t, p_W)" in text and "vs best Δ (p_t, p_W)" in text
    assert "macro_f1: best single modality: none run" in text and "clinical reference: clinical-logreg" in text
    assert "     5/5  " in text and "    4/5*  " in text and " on 4" in text and "* failed folds" in text
    logreg_line = next(line for line in text.splitlines() if line.startswith("logreg "))
    assert f"{d.mean():+.3f} (" in logreg_line
    # per fold: n and events columns (events only for survival), tuned hyperparameters when logged
    per_fold = format_per_fold(task, folds)
    assert per_fold.splitlines()[0].startswith("model") and " n events" in per_fold.splitlines()[0]
    assert f"{len(splits[0].test):>6}" in per_fold.splitlines()[2]
    tuned = format_per_fold(task, folds.with_columns(pl.lit(0.1).alias("hp.C")))
    assert "tuned hyperparameters" in tuned and "C=0.1" in tuned
    # per cohort: logreg's accuracy on each cohort, recomputed from the logged predictions artifacts
    cohorts = by_cohort_table(task)
    cohort_of = dict(task.dataset.clinical.select("patient_id", "cohort").iter_rows())
    hits: dict[str, list[float]] = {}
    client = Tracker(home).client
    for run in Tracker(home).job_runs(task.name, task.dataset.id):
        if run.data.tags["model"] != "logreg":
            continue
        preds = pl.read_parquet(client.download_artifacts(run.info.run_id, "predictions.parquet", str(tmp_path)))
        classes = [c.removeprefix("proba_") for c in preds.columns if c.startswith("proba_")]
        guess = np.array(classes)[preds.select([f"proba_{c}" for c in classes]).to_numpy().argmax(axis=1)]
        truth = task.labels(preds["patient_id"].to_list())
        for c in sorted(set(cohort_of[p] for p in preds["patient_id"])):
            mask = np.array([cohort_of[p] == c for p in preds["patient_id"]])
            hits.setdefault(c, []).append(float((guess[mask] == truth[mask]).mean()))
    got = {r["cohort"]: r["accuracy"] for r in cohorts.filter(pl.col("model") == "logreg").iter_rows(named=True)}
    assert got == pytest.approx({c: np.mean(v) for c, v in hits.items()}, abs=1e-12)
    assert "accuracy per cohort" in format_by_cohort(task, cohorts, "accuracy")
    # across tasks: one task ranks its complete models by mean and says why there is no CD diagram
    from oncobench.benchmark.results import rank_tasks

    text = rank_tasks(["pancan-type"], "tcga-mini", None, tmp_path / "cd.png")
    best = max(("logreg", "clinical-logreg", "prior"), key=lambda m: by[m]["macro_f1_mean"])
    assert f"    1.00  {best}" in text and "    3.00  prior" in text and "(left out, not run on every task: knn)" in text
    assert "no critical-difference diagram: a critical-difference diagram needs at least 5 tasks" in text
    assert not (tmp_path / "cd.png").exists()
    # the leaderboard task page carries the paired-test columns
    from oncobench.leaderboard.baselines import import_baselines
    from oncobench.leaderboard.views import export_site

    import_baselines(task)
    site = export_site(tmp_path / "site")
    page = (site / "pancan-type__tcga-mini_1.0.html").read_text()
    assert "vs clinical reference Δ</th><th>vs best Δ</th>" in page
    assert f"{d.mean():+.3f} (p_t " in page
    assert "Across tasks" in (site / "index.html").read_text()


def test_one_test_split_gets_bootstrap_intervals(home: Path) -> None:
    from oncobench.benchmark.results import format_results, results_table
    from oncobench.benchmark.runner import run_grid
    from oncobench.benchmark.tasks import load_task

    task = load_task("pancan-type", dataset="tcga-mini", scheme="holdout")
    assert len(task.folds) == 1
    run_grid([task], ["logreg"], progress=False)
    table = results_table(task, n_boot=200)
    by = {r["model"]: r for r in table.iter_rows(named=True)}
    low, high = by["logreg"]["macro_f1_boot_low"], by["logreg"]["macro_f1_boot_high"]
    assert low <= by["logreg"]["macro_f1_mean"] <= high  # a perfect holdout score sits at the top of its interval
    assert by["logreg"]["vs_clinical_boot_low"] < by["logreg"]["vs_clinical_diff"] < by["logreg"]["vs_clinical_boot_high"]
    assert by["logreg"]["vs_clinical_diff"] == pytest.approx(by["logreg"]["macro_f1_mean"] - by["clinical-logreg"]["macro_f1_mean"], abs=1e-12)
    text = format_results(task, table)
    assert "Δ [95% bootstrap CI] p" in text and "percentile bootstrap over test patients" in text


def test_fold_level_summary_averages_seeds_first_and_counts_undefined() -> None:
    """Seeds share a fold: two seeds of fold 0 are one unit; a None/NaN score (metric undefined there) is left out."""
    from oncobench.benchmark.aggregate import summarize_units

    s = summarize_units([((0, 0), 0.6), ((0, 0), 0.8), ((0, 1), 0.5), ((0, 2), None), ((0, 2), float("nan"))], "harrell_c")
    # units: fold 0 -> 0.7, fold 1 -> 0.5, fold 2 undefined
    assert s["n"] == 2 and s["n_undefined"] == 1 and s["n_seeds"] == 2
    assert s["mean"] == pytest.approx(0.6) and s["sd"] == pytest.approx(0.1414213562373095)
    # t(0.975, 1) * sd / sqrt(2) = 12.7062 * 0.1 = 1.27: the interval is clipped to C's range [0, 1]
    assert s["ci_low"] == 0.0 and s["ci_high"] == 1.0
