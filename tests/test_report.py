"""`oncobench report`: one self-contained HTML file per task, checked by parsing it and in a real headless Chromium.

The home holds coxnet (+ km, clinical-cox) on pfi-pancan (tcga-mini, folds 0 and 1) and a two-modality ablation.
Figures in the page are compared with the tracking store's metrics and with hand computations (paired test,
numbers at risk against lifelines).
"""

from __future__ import annotations

import base64
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from oncobench.benchmark.report import SECTIONS, at_risk_counts, render_report, risk_groups, write_report
from oncobench.benchmark.tasks import load_task
from test_leaderboard_web import chromium  # noqa: F401  (the leaderboard's browser fixture: Debian's Chromium)

ROOT = Path(__file__).resolve().parents[1]
FOLDS = [0, 1]


@pytest.fixture(scope="module")
def task():
    return load_task("pfi-pancan", dataset="tcga-mini")


@pytest.fixture(scope="module")
def home(task, tmp_path_factory) -> Path:
    from oncobench.benchmark.ablation import run_ablation
    from oncobench.benchmark.runner import run_grid

    h = tmp_path_factory.mktemp("report") / "home"
    report = run_grid([task], ["coxnet"], folds=FOLDS, progress=False, home=h)
    assert report.failed == [] and report.ran == 6  # coxnet, km, clinical-cox x 2 folds
    _, report = run_ablation(task, "coxnet", modalities=["mirna", "pathology"], folds=FOLDS, progress=False, home=h)
    assert report.failed == []
    return h


class Links(HTMLParser):
    """Every URL-bearing attribute and every section id of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.ids: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value is not None:
                self.urls.append((tag, name, value))
            if name == "id" and tag == "section":
                self.ids.append(value)


def parse(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


def test_report_is_self_contained_and_has_every_section(task, home, tmp_path):
    out = write_report(task, tmp_path / "nested" / "report.html", home=home)
    html = out.read_text(encoding="utf-8")
    links = parse(html)
    assert links.ids == list(SECTIONS)
    assert "link" not in links.tags and not re.search(r"url\(|@import|https?://", html)
    imgs = [v for tag, name, v in links.urls if tag == "img"]
    assert [u for u in links.urls if u[0] != "img"] == []  # no anchor, script or stylesheet reference at all
    assert len(imgs) == 4  # per-fold scores, the ablation, KM of the best model and of the clinical reference
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # written in one rename, nothing left beside


def cells(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table class="sortable" id="{re.escape(table_id)}">.*?<tbody>(.*?)</tbody>', html).group(1)
    return [re.findall(r'<td[^>]*data-sort="([^"]*)"', row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_per_fold_scores_and_paired_test_match_the_store_and_a_hand_computation(task, home):
    from oncobench.benchmark.tracking import Tracker

    html = render_report(task, home)
    finished = Tracker(home).finished(task)
    uno = {(m, f): finished[f"pfi-pancan|{m}|r0|f{f}|s0"].test["uno_c"] for m in ("coxnet", "clinical-cox") for f in FOLDS}
    rows = {r[0]: r[1:] for r in cells(html, "per-fold-table")}
    for model in ("coxnet", "clinical-cox"):
        assert [float(x) for x in rows[model]] == pytest.approx([uno[(model, f)] for f in FOLDS], abs=1e-9)
    # the corrected resampled t-test by hand (Nadeau & Bengio 2003): J = 2 folds, n_test / n_train of those folds
    d = np.array([uno[("coxnet", f)] - uno[("clinical-cox", f)] for f in FOLDS])
    splits = [task.get_split(f, 0) for f in FOLDS]
    ratio = np.mean([len(s.test) for s in splits]) / np.mean([len(s.train) for s in splits])
    t = d.mean() / math.sqrt((1 / 2 + ratio) * d.var(ddof=1))
    p = 2 * stats.t.sf(abs(t), df=1)
    paired = {r[0]: r for r in cells(html, "paired-tests")}
    assert float(paired["coxnet"][3]) == pytest.approx(d.mean(), abs=1e-9)
    assert float(paired["coxnet"][4]) == pytest.approx(p, abs=1e-9)
    assert "clinical-cox" not in paired  # the reference is not tested against itself


def test_risk_groups_and_numbers_at_risk(task, home):
    from lifelines import KaplanMeierFitter

    time, event, high, seed = risk_groups(task, "coxnet", home)
    test_ids = [i for f in FOLDS for i in task.get_split(f, 0).test]
    assert seed == 0 and len(time) == len(test_ids)
    e, t = task.outcome(test_ids)
    assert sorted(zip(time, event)) == sorted(zip(np.asarray(t, float), np.asarray(e, bool)))
    assert 0 < high.sum() < len(high)
    # numbers at risk against lifelines' event table (at_risk = still followed at the start of each event time)
    table = KaplanMeierFitter().fit(time, event).event_table
    times = [float(x) for x in table.index if x > 0][:20]
    assert at_risk_counts(time, times) == [int(table.loc[x, "at_risk"]) for x in times]


def test_fairness_and_federated_sections_come_from_the_other_modules(task, home, monkeypatch):
    import oncobench.benchmark.federated as federated
    from oncobench.benchmark.fairness import fairness_result
    from oncobench.benchmark.report import _fairness, _federated

    html = render_report(task, home)
    for key in ("fairness", "federated"):
        assert re.search(rf'<section id="{key}"><h2>[^<]+</h2>.+?</section>', html)
    # fairness: the section is the fairness module's table of the model's runs, group by group
    section = _fairness(task, "coxnet", home)
    for by in ("ancestry", "sex"):
        table = fairness_result(task, "coxnet", by, home).table
        rendered = cells(section, f"fairness-{by}")
        assert [r[:2] for r in rendered] == [[str(g), str(n)] for g, n in zip(table["group"], table["n"])]
    # federated: nothing run here yet, then the latest `oncobench federated` rows of each federated model
    assert "not run: no federated training on pfi-pancan" in _federated(task, home)
    planted = pl.DataFrame({"setting": ["federated", "local"], "client": ["all", "AFR"], "n_train": [90, 9],
                            "n_test": [40, 40], "metric": ["uno_c"] * 2, "value": [0.612, 0.377]})
    calls = []
    monkeypatch.setattr(federated, "federated_summary",
                        lambda t, m, home=None: calls.append((t, m)) or (planted.to_pandas() if m == "cox" else None))
    section = _federated(task, home)
    assert calls == [("pfi-pancan", m) for m in federated.MODELS]  # every federated model, in registry order
    assert cells(section, "federated-cox")[1][:3] == ["local", "AFR", "9"] and "federated-logistic" not in section


def test_cli_report_and_refusal_without_runs(task, home, tmp_path, monkeypatch, capsys):
    from oncobench.cli import main

    monkeypatch.setenv("ONCOBENCH_HOME", str(home))
    out = tmp_path / "r.html"
    assert main(["report", "--task", "pfi-pancan", "--dataset", "tcga-mini", "--out", str(out)]) == 0
    assert "one self-contained HTML file" in capsys.readouterr().out and out.stat().st_size > 10_000
    monkeypatch.setenv("ONCOBENCH_HOME", str(tmp_path / "empty"))
    assert main(["report", "--task", "pfi-pancan", "--dataset", "tcga-mini", "--out", str(out)]) == 2
    assert "no finished run of pfi-pancan on tcga-mini@1.0" in capsys.readouterr().err


def test_browser_opens_the_report_without_errors(task, home, chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    report = write_report(task, tmp_path / "report.html", home=home)
    artifact = Path(os.environ.get("ONCOBENCH_TEST_ARTIFACTS", tmp_path)) / "report.png"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    problems, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            assert page.title() == "pfi-pancan — OncoBench report"
            for key in SECTIONS:
                assert page.locator(f"section#{key} h2").is_visible()
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
            assert len(sizes) == 4 and all(done and width > 0 for done, width in sizes)  # every inlined PNG decoded
            header = page.locator("#models thead th").nth(4)  # the primary metric's mean: sortable like the leaderboard
            header.click()
            means = [float(v) for v in page.eval_on_selector_all("#models tbody tr", "rs => rs.map(r => r.cells[4].dataset.sort)")]
            assert header.get_attribute("class") == "sorted-asc" and means == sorted(means)
            page.screenshot(path=str(artifact), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert artifact.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
