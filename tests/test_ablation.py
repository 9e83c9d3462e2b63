"""`oncobench ablate`: every modality subset through the runner, exact Shapley values, the one-SE minimal subset.

Planted games are checked against hand computations and against a second algorithm (the average marginal
contribution over every ordering of the players); the real ablation runs on tcga-mini, one fold.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from oncobench.benchmark.ablation import (AblationError, AblationResult, ablation_grid, ablation_modalities,
                                          minimal_subset, run_ablation, saved_ablations, shapley_values, subsets)
from oncobench.benchmark.tasks import load_task

DATASET = "tcga-mini"


@pytest.fixture(scope="module")
def pancan_type():
    return load_task("pancan-type", dataset=DATASET)


# ---- subsets ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chosen", [("mirna", "pathology"), None])
def test_one_spec_per_non_empty_subset_and_the_runner_plans_each(pancan_type, chosen):
    from oncobench.benchmark.job import model_inputs
    from oncobench.benchmark.runner import plan

    players = ablation_modalities(pancan_type, chosen)
    k = len(players)
    assert k == (2 if chosen else 3)  # pancan-type offers mirna, pathology and clinical on tcga-mini
    specs = ablation_grid(pancan_type, "logreg", chosen)
    assert len(specs) == len(set(specs)) == 2 ** k - 1
    read = {frozenset(model_inputs(pancan_type, s)) for s in specs}  # what each job will actually read
    every = {frozenset(c) for n in range(1, k + 1) for c in itertools.combinations(players, n)}
    assert read == every
    jobs = plan([pancan_type], specs, folds=[0], controls=False)
    assert len(jobs) == 2 ** k - 1


def test_six_modalities_give_63_subsets_and_seven_are_refused():
    brca = load_task("brca-pam50", dataset=DATASET)
    assert len(ablation_modalities(brca)) == 6
    assert len(subsets(ablation_modalities(brca))) == 63
    seven = SimpleNamespace(name="wide", modalities=tuple(f"m{i}" for i in range(7)), dataset=SimpleNamespace(id="d@1"))
    with pytest.raises(AblationError, match=r"7 modalities .*more than 6 would fit 127 subsets.*--modalities"):
        ablation_modalities(seven)
    assert len(ablation_modalities(seven, ["m0", "m3"])) == 2
    with pytest.raises(AblationError, match=r"does not offer \['rna'\]"):
        ablation_modalities(seven, ["m0", "rna"])
    with pytest.raises(AblationError, match="already names its modalities"):
        ablation_grid(brca, "logreg/rna")


# ---- Shapley values on planted games ------------------------------------------------------------------------
def by_orderings(players, v):
    """Shapley value as the mean marginal contribution over all k! orderings (a second, independent algorithm)."""
    out = {p: Fraction(0) for p in players}
    orders = list(itertools.permutations(players))
    for order in orders:
        before = frozenset()
        for p in order:
            out[p] += Fraction(v[before | {p}]) - Fraction(v[before])
            before = before | {p}
    return {p: x / len(orders) for p, x in out.items()}


def test_shapley_equals_the_hand_computation_on_a_three_player_game():
    # v: {} 0, a 1, b 2, c 3, ab 4, ac 5, bc 6, abc 9. By hand, weights 1/3 (|S| = 0, 2) and 1/6 (|S| = 1):
    # phi_a = 1/3*(1-0) + 1/6*(4-2) + 1/6*(5-3) + 1/3*(9-6) = 2
    # phi_b = 1/3*(2-0) + 1/6*(4-1) + 1/6*(6-3) + 1/3*(9-5) = 3
    # phi_c = 1/3*(3-0) + 1/6*(5-1) + 1/6*(6-2) + 1/3*(9-4) = 4
    v = {frozenset(): 0, frozenset("a"): 1, frozenset("b"): 2, frozenset("c"): 3, frozenset("ab"): 4,
         frozenset("ac"): 5, frozenset("bc"): 6, frozenset("abc"): 9}
    v = {k: Fraction(x) for k, x in v.items()}
    phi = shapley_values(["a", "b", "c"], v)
    assert phi == {"a": 2, "b": 3, "c": 4}
    assert sum(phi.values()) == v[frozenset("abc")] - v[frozenset()]
    # a non-zero empty value (a control's score) shifts nothing but the total
    shifted = {k: x + Fraction(1, 2) for k, x in v.items()}
    assert shapley_values(["a", "b", "c"], shifted) == phi


def test_shapley_of_an_additive_game_is_each_players_own_worth():
    worth = {"rna": 0.1, "cnv": -0.02, "clinical": 0.07}
    v = {frozenset(s): 0.5 + sum(worth[p] for p in s) for n in range(4) for s in itertools.combinations(worth, n)}
    phi = shapley_values(list(worth), v)
    for p, w in worth.items():
        assert phi[p] == pytest.approx(w, abs=1e-15)


def test_shapley_matches_the_ordering_definition_and_adds_up_on_a_random_game():
    rng = random.Random(7)
    players = ["rna", "cnv", "mutation", "pathology", "clinical"]
    v = {frozenset(s): rng.uniform(0.45, 0.8) for n in range(6) for s in itertools.combinations(players, n)}
    phi = shapley_values(players, v)
    reference = by_orderings(players, v)
    for p in players:
        assert phi[p] == float(reference[p])  # both exact in rationals, rounded once to float
    total = v[frozenset(players)] - v[frozenset()]
    assert math.isclose(sum(phi.values()), total, rel_tol=0, abs_tol=1e-14)
    exact = shapley_values(players, {k: Fraction(x) for k, x in v.items()})
    assert sum(exact.values()) == Fraction(v[frozenset(players)]) - Fraction(v[frozenset()])  # exactly
    with pytest.raises(AblationError, match="lacks 1 subset"):
        shapley_values(players, {k: x for k, x in v.items() if k != frozenset({"rna"})})


# ---- the one-SE rule ------------------------------------------------------------------------------------------
PLANTED = {("a",): 0.60, ("b",): 0.70, ("c",): 0.50, ("a", "b"): 0.74, ("a", "c"): 0.62, ("b", "c"): 0.725,
           ("a", "b", "c"): 0.75}


@pytest.mark.parametrize("se,expected", [
    (0.02, ("a", "b")),     # bound 0.73: no single modality; of the pairs ab (0.74) qualifies, bc (0.725) does not
    (0.06, ("b",)),         # bound 0.69: b (0.70) alone
    (0.2, ("b",)),          # bound 0.55: a and b qualify; the better one
    (math.nan, ("a", "b", "c")),  # one fold: no SE, only a subset as good as the full set
])
def test_minimal_subset_is_the_smallest_within_one_se(se, expected):
    assert minimal_subset(PLANTED, ("a", "b", "c"), se) == expected


def test_minimal_subset_when_lower_is_better():
    loss = {k: 1 - v for k, v in PLANTED.items()}  # 0.25 full; bound 0.27 with SE 0.02
    assert minimal_subset(loss, ("a", "b", "c"), 0.02, higher_is_better=False) == ("a", "b")


# ---- a real ablation through the runner ---------------------------------------------------------------------
def test_real_ablation_through_the_runner(pancan_type, tmp_path, capsys, monkeypatch):
    from sklearn.metrics import f1_score

    from oncobench.benchmark.tracking import Tracker
    from oncobench.cli import main
    from oncobench.leaderboard.db import LeaderboardDB
    from oncobench.leaderboard.views import render_task

    home = tmp_path / "home"
    result, report = run_ablation(pancan_type, "logreg", modalities=["mirna", "pathology"], folds=[0], progress=False,
                                  home=home)
    assert report.failed == [] and report.ran == report.planned == 5  # 3 subsets, the prior control, clinical-logreg
    finished = Tracker(home).finished(pancan_type)
    score = {m: finished[f"pancan-type|{m}|r0|f0|s0"].test["macro_f1"]
             for m in ("logreg/mirna", "logreg/pathology", "logreg/mirna+pathology", "prior")}
    assert [s.spec for s in result.subsets] == ["logreg/mirna", "logreg/pathology", "logreg/mirna+pathology"]
    for s in result.subsets:
        assert s.mean == score[s.spec] and s.n == 1 and math.isnan(s.sd)
    assert (result.empty_model, result.empty.mean, result.units) == ("prior", score["prior"], ((0, 0),))

    # v(empty) from first principles: the prior control predicts the training class shares, so every test
    # patient gets the majority training class (ties: the first class)
    split = pancan_type.get_split(0, 0)
    train = pancan_type.labels(split.train)
    counts = [list(train).count(c) for c in pancan_type.classes]
    majority = pancan_type.classes[int(np.argmax(counts))]
    test = pancan_type.labels(split.test)
    assert result.empty.mean == pytest.approx(
        f1_score(test, [majority] * len(test), labels=list(pancan_type.classes), average="macro", zero_division=0), abs=1e-12)

    # two players by hand: phi_mirna = 1/2 (v(m) - v0) + 1/2 (v(mp) - v(p))
    v0, vm, vp, vmp = score["prior"], score["logreg/mirna"], score["logreg/pathology"], score["logreg/mirna+pathology"]
    assert result.shapley["mirna"] == pytest.approx((vm - v0) / 2 + (vmp - vp) / 2, abs=1e-12)
    assert result.shapley["pathology"] == pytest.approx((vp - v0) / 2 + (vmp - vm) / 2, abs=1e-12)
    assert sum(result.shapley.values()) == pytest.approx(vmp - v0, abs=1e-14)
    best_single = max((vm, ("mirna",)), (vp, ("pathology",)))
    assert result.minimal == (best_single[1] if best_single[0] >= vmp else ("mirna", "pathology"))

    # saved in the home, read back equal; a second run resumes (nothing refitted) and gives the same figures
    same = AblationResult.to_json  # NaN (sd of one fold) is never equal to itself: compare the JSON
    assert [same(r) for r in saved_ablations("pancan-type", "tcga-mini@1.0", home)] == [same(result)]
    assert same(AblationResult.from_json(result.to_json())) == same(result)
    again, report = run_ablation(pancan_type, "logreg", modalities=["mirna", "pathology"], folds=[0], progress=False,
                                 home=home)
    assert (report.ran, report.skipped) == (0, 5) and same(again) == same(result)

    # the leaderboard page of the task shows the plot
    with LeaderboardDB(home) as db:
        page = render_task(pancan_type, db, tmp_path)
    assert "Minimal modality set" in page and 'src="pancan-type__tcga-mini_1.0_ablation.png"' in page
    assert (tmp_path / "pancan-type__tcga-mini_1.0_ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the command: same home (nothing to fit), the table, the Shapley bars and the minimal subset
    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    plot = tmp_path / "ablation.png"
    assert main(["ablate", "--task", "pancan-type", "--dataset", DATASET, "--model", "logreg",
                 "--modalities", "mirna,pathology", "--folds", "0", "--quiet", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "5 jobs: 0 ran, 5 already finished, 0 failed" in out
    assert f"minimal subset: {'+'.join(result.minimal)}" in out
    assert re.search(rf"^mirna +{re.escape(format(result.shapley['mirna'], '+.4f'))} ", out, re.MULTILINE)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["ablate", "--task", "pancan-type", "--dataset", DATASET, "--model", "logreg/mirna"]) == 2
    assert "already names its modalities" in capsys.readouterr().err


def test_scoring_without_runs_says_what_to_run(pancan_type, tmp_path: Path):
    from oncobench.benchmark.ablation import score_ablation

    with pytest.raises(AblationError, match=r"no finished macro_f1 for .*oncobench ablate --task pancan-type"):
        score_ablation(pancan_type, "logreg", home=tmp_path / "empty-home")
