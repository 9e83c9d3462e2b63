"""One self-contained HTML report of a task for a clinician-scientist (``oncobench report --task T``).

Everything comes from what is already in the home: the finished runs in the tracking store (per-fold scores,
paired tests against the clinical reference from :mod:`oncobench.benchmark.results`), the saved ablation of
``oncobench ablate``, and, when those modules exist, the fairness table and the federated summary. The page
is the leaderboard's (:mod:`oncobench.leaderboard.site`: style, sortable tables, escaping); every plot is a
PNG inlined as base64, so the file makes no request anywhere when opened.

Kaplan-Meier risk groups: a model's test predictions of every fold (repeat 0, its smallest seed) are pooled;
within each fold a patient is high-risk when its predicted risk is above that fold's median test risk, as on
the leaderboard's task pages. Training-fold risks are not logged by the runner, so the training median is not
available; the test median uses no outcome, so it leaks nothing.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from oncobench.benchmark.ablation import AblationResult, ablation_plot, saved_ablations
from oncobench.benchmark.aggregate import format_summary
from oncobench.benchmark.evaluator import ID, LOWER_IS_BETTER
from oncobench.benchmark.tasks import Task

log = logging.getLogger(__name__)

FAIRNESS_BY = ("ancestry", "sex")
SECTIONS = ("summary", "per-fold", "paired", "ablation", "km", "fairness", "federated")


class ReportError(ValueError):
    """A report that cannot be made (no finished run of the task in the home)."""


def _png(draw: Callable[[io.BytesIO], Any]) -> str:
    buf = io.BytesIO()
    draw(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(src: str, alt: str) -> str:
    from oncobench.leaderboard.site import esc

    return f"<img alt=\"{esc(alt)}\" src=\"{src}\">"


def _cell(value: Any, digits: int = 3) -> str:
    from oncobench.leaderboard.site import esc

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td class=\"num\" data-sort=\"\">—</td>"
    if isinstance(value, (float, np.floating)):
        return f"<td class=\"num\" data-sort=\"{float(value):.10g}\">{float(value):.{digits}f}</td>"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"<td class=\"num\" data-sort=\"{int(value)}\">{int(value)}</td>"
    return f"<td data-sort=\"{esc(value)}\">{esc(value)}</td>"


def html_table(records: Sequence[dict[str, Any]], columns: Sequence[str], table_id: str) -> str:
    """A sortable table (the leaderboard's script sorts it by any header)."""
    from oncobench.leaderboard.site import esc

    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in records)
    return f"<table class=\"sortable\" id=\"{esc(table_id)}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a polars or pandas DataFrame (the other helpers' modules may return either)."""
    if isinstance(frame, pl.DataFrame):
        return frame.to_dicts()
    return list(frame.to_dict("records"))


def _columns(frame: Any) -> list[str]:
    return [str(c) for c in frame.columns]


def _section(key: str, title: str, body: str) -> str:
    from oncobench.leaderboard.site import esc

    return f"<section id=\"{esc(key)}\"><h2>{esc(title)}</h2>{body}</section>"


def _not_run(what: str) -> str:
    from oncobench.leaderboard.site import esc

    return f"<p class=\"note not-run\">not run: {esc(what)}</p>"


# ---- plots ----

def per_fold_plot(per_fold: pl.DataFrame, metric: str, order: Sequence[str], target: Any) -> Any:
    """Each model's per-fold scores (seeds averaged within a fold) as points, one row per model, best on top."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.4 * max(len(order), 2) + 1.2))
    ax = fig.subplots()
    for i, model in enumerate(order):
        rows = per_fold.filter(pl.col("model") == model)
        scores = rows.group_by(["repeat", "fold"]).agg(pl.col(metric).mean())[metric].to_numpy()
        y = len(order) - 1 - i
        ax.scatter(scores, [y] * len(scores), s=16, alpha=0.7)
        if len(scores):
            ax.plot([np.nanmean(scores)], [y], "D", color="black", ms=5)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(list(reversed(order)), fontsize=8, parse_math=False, usetex=False)
    ax.set_xlabel(f"{metric} per test fold (points); mean over folds (diamond)")
    fig.tight_layout()
    fig.savefig(target, dpi=90, format="png")
    return target


def at_risk_counts(time: np.ndarray, ticks: Sequence[float]) -> list[int]:
    """Patients still at risk (time >= t) at each tick: the numbers printed under a Kaplan-Meier plot."""
    t = np.asarray(time, dtype=np.float64)
    return [int((t >= tick).sum()) for tick in ticks]


def km_plot(groups: dict[str, tuple[np.ndarray, np.ndarray]], title: str, unit: str, target: Any) -> Any:
    """Kaplan-Meier curves (scikit-survival's estimator) of each group with the numbers at risk below the axis."""
    from matplotlib.figure import Figure
    from sksurv.nonparametric import kaplan_meier_estimator

    fig = Figure(figsize=(7, 4.6))
    ax, table = fig.subplots(2, 1, gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    every = np.concatenate([t for t, _ in groups.values()])
    from matplotlib.ticker import MaxNLocator

    end = float(np.quantile(every, 0.95))
    ticks = [t for t in MaxNLocator(6).tick_values(0, end) if 0 <= t <= end]
    colors = ("tab:blue", "tab:red", "tab:green", "tab:orange")
    for (label, (t, e)), color in zip(groups.items(), colors):
        if len(t) and e.any():
            x, y = kaplan_meier_estimator(e.astype(bool), t)
            ax.step(np.r_[0, x], np.r_[1, y], where="post", color=color, label=f"{label} (n={len(t)}, {int(e.sum())} events)")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, ticks[-1] * 1.02)
    ax.set_ylabel("survival probability")
    ax.set_title(title, fontsize=9, parse_math=False, usetex=False)
    ax.legend(fontsize=8, loc="lower left")
    table.set_axis_off()
    table.text(0, 1.0, "at risk", transform=table.transAxes, fontsize=8, ha="right", va="top")
    for row, ((label, (t, _)), color) in enumerate(zip(groups.items(), colors)):
        for tick, n in zip(ticks, at_risk_counts(t, ticks)):
            table.text(tick, 0.75 - 0.4 * row, str(n), color=color, fontsize=8, ha="center", va="center")
    table.set_ylim(-0.2, 1.0)
    ax.set_xticks(ticks)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel(f"time ({unit})")
    fig.tight_layout()
    fig.savefig(target, dpi=90, format="png")
    return target


# ---- data ----

def _runs(task: Task, home: Path | None) -> list[Any]:
    from oncobench.benchmark.tracking import Tracker

    return Tracker(home).job_runs(task.name, task.dataset.id)


def risk_groups(task: Task, model: str, home: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """(time, event, high-risk) of a model's test patients pooled over the folds of repeat 0 (its smallest seed;
    high = above the fold's median test risk), and that seed; None when the model has no such runs."""
    from oncobench.benchmark.tracking import Tracker

    tracker = Tracker(home)
    runs = [r for r in tracker.job_runs(task.name, task.dataset.id)
            if r.data.tags.get("model") == model and r.data.params.get("repeat") == "0"]
    if not runs:
        return None
    seed = min(int(r.data.params["seed"]) for r in runs)
    times, events, high = [], [], []
    for run in sorted((r for r in runs if int(r.data.params["seed"]) == seed), key=lambda r: int(r.data.params["fold"])):
        with tempfile.TemporaryDirectory() as tmp:
            frame = pl.read_parquet(tracker.client.download_artifacts(run.info.run_id, "predictions.parquet", tmp))
        risk = frame["risk"].to_numpy()
        e, t = task.outcome(frame[ID].to_list())
        times.append(np.asarray(t, dtype=np.float64))
        events.append(np.asarray(e, dtype=bool))
        high.append(risk > np.median(risk))
    return np.concatenate(times), np.concatenate(events), np.concatenate(high), seed


def _logrank_p(time: np.ndarray, event: np.ndarray, high: np.ndarray) -> float:
    """Log-rank p of high vs low risk (scikit-survival); NaN when one group is empty or there is no event."""
    from sksurv.compare import compare_survival
    from sksurv.util import Surv

    if high.all() or not high.any() or not event.any():
        return math.nan
    return float(compare_survival(Surv.from_arrays(event, time), high.astype(int))[1])


def _fairness(task: Task, model: str, home: Path | None) -> str:
    from oncobench.benchmark.fairness import fairness_result

    parts = []
    for by in FAIRNESS_BY:
        try:
            frame = fairness_result(task, model, by, home).table
        except ValueError as exc:  # e.g. a dataset without that attribute
            parts.append(f"<h3>by {by}</h3>" + _not_run(str(exc)))
            continue
        if frame is None or len(frame) == 0:
            parts.append(f"<h3>by {by}</h3>" + _not_run(f"no fairness scores of {model} by {by}"))
        else:
            parts.append(f"<h3>{model} by {by}</h3>" + html_table(_records(frame), _columns(frame), f"fairness-{by}"))
    return "".join(parts)


def _federated(task: Task, home: Path | None) -> str:
    """The latest ``oncobench federated`` result of each federated model on the task (their models are the
    federated Cox / logistic fits, not the runner's)."""
    from oncobench.benchmark.federated import MODELS, federated_summary

    parts = []
    for model in MODELS:
        frame = federated_summary(task.name, model, home=home)
        if frame is not None and len(frame):
            parts.append(f"<h3>{model}</h3>" + html_table(_records(frame), _columns(frame), f"federated-{model}"))
    return "".join(parts) or _not_run(f"no federated training on {task.name} (oncobench federated --task {task.name})")


def _ablation_section(results: list[AblationResult]) -> str:
    if not results:
        return _not_run("no ablation saved for this task (oncobench ablate --task T --model M)")
    parts = []
    for r in results:
        rows = [{"modalities": "+".join(s.modalities) or f"(none: {r.empty_model})", "k": len(s.modalities),
                 f"{r.metric} mean": s.mean, "sd": s.sd, "ci_low": s.ci_low, "ci_high": s.ci_high, "folds": s.n,
                 "note": "; ".join(["minimal (within 1 SE of full)"] * (s.modalities == r.minimal)
                                   + ["full set"] * (s.modalities == r.modalities))} for s in (r.empty, *r.subsets)]
        shap = [{"modality": m, "Shapley value": v} for m, v in sorted(r.shapley.items(), key=lambda kv: -kv[1])]
        parts.append(
            f"<h3>{r.model}</h3><p class=\"note\">{r.metric} over {len(r.units)} folds, seeds "
            f"{', '.join(map(str, r.seeds))}; v(empty) = the negative control {r.empty_model}; Shapley values sum to "
            f"v(full) - v(empty) = {r.full.mean - r.empty.mean:+.4f}; minimal subset "
            f"<b>{'+'.join(r.minimal)}</b> (one-SE rule).</p>"
            + _img(_png(lambda buf, r=r: ablation_plot(r, buf)), f"ablation of {r.model}")
            + "<h4>Shapley values</h4>" + html_table(shap, ["modality", "Shapley value"], f"shapley-{r.model}")
            + "<h4>Every subset</h4>" + html_table(rows, list(rows[0]), f"ablation-{r.model}"))
    return "".join(parts)


def render_report(task: Task, home: Path | None = None) -> str:
    """The report's HTML (one string, no external reference)."""
    from oncobench.benchmark.results import per_fold_table, results_table
    from oncobench.benchmark.runner import controls_for
    from oncobench.datasets.store import oncobench_home
    from oncobench.leaderboard.site import esc, page

    # a home without a tracking store has nothing to report; opening one would create it
    table = results_table(task, home) if ((home or oncobench_home()) / "mlflow.db").is_file() else pl.DataFrame()
    if table.is_empty():
        raise ReportError(f"no finished run of {task.name} on {task.dataset.id} in this home: run "
                          f"`oncobench run --task {task.name} --models M` first")
    per_fold = per_fold_table(task, home)
    primary = task.spec.primary
    higher = primary not in LOWER_IS_BETTER
    models = table["model"].to_list()
    rows = table.to_dicts()
    summary = [{"model": r["model"], "role": r["role"], "folds": f"{r['folds_done']}/{r['folds_expected']}",
                "seeds": r["seeds"], f"{primary} mean": r[f"{primary}_mean"],
                f"{primary} (mean ± sd [95% CI])": format_summary(
                    {k: r[f"{primary}_{k}"] for k in ("mean", "sd", "ci_low", "ci_high")})} for r in rows]
    sections = [_section("summary", f"Models on {task.name}, ranked by {primary}",
                         html_table(summary, list(summary[0]), "models"))]

    wide = (per_fold.group_by(["model", "repeat", "fold"]).agg(pl.col(primary).mean())
            .with_columns(pl.format("r{}f{}", "repeat", "fold").alias("unit")))
    units = sorted(set(zip(wide["repeat"].to_list(), wide["fold"].to_list())))
    cells = {(m, f"r{r}f{f}"): v for m, r, f, v in wide.select("model", "repeat", "fold", primary).iter_rows()}
    fold_rows = [{"model": m} | {f"r{r}f{f}": cells.get((m, f"r{r}f{f}")) for r, f in units} for m in models]
    sections.append(_section("per-fold", f"{primary} per test fold (seeds averaged within a fold)",
                             _img(_png(lambda buf: per_fold_plot(per_fold, primary, models, buf)), "scores per fold")
                             + html_table(fold_rows, ["model"] + [f"r{r}f{f}" for r, f in units], "per-fold-table")))

    reference = next((r["vs_clinical_model"] for r in rows if r.get("vs_clinical_model")), None)
    if reference is None:
        paired = _not_run(f"no clinical reference run on {task.name} ({task.clinical_reference()[1]})")
    else:
        tests = [{"model": r["model"], "role": r["role"], "folds compared": r["vs_clinical_n"],
                  f"Δ {primary} vs {reference}": r["vs_clinical_diff"], "p (corrected t)": r["vs_clinical_p_t"],
                  "p (Wilcoxon)": r["vs_clinical_p_w"]} for r in rows if r["model"] != reference]
        paired = (f"<p class=\"note\">Mean per-fold difference from the clinical reference {esc(reference)} on the folds "
                  "both completed; corrected resampled t-test (Nadeau &amp; Bengio 2003) and Wilcoxon's signed-rank "
                  "test (its smallest two-sided p with 5 folds is 0.0625).</p>"
                  + html_table(tests, list(tests[0]) if tests else ["model"], "paired-tests"))
    sections.append(_section("paired", "Paired tests against the clinical reference", paired))
    sections.append(_section("ablation", "Minimal modality set (ablation)",
                             _ablation_section(saved_ablations(task.name, task.dataset.id, home))))

    best = next((r["model"] for r in rows if r["role"] == "model"), None)
    if task.kind != "survival":
        km = _not_run(f"{task.name} is a {task.kind} task: no survival outcome to draw")
    else:
        unit = (task.endpoint or {}).get("unit", "days")
        plots = []
        for model in [m for m in (best, reference) if m is not None]:
            groups = risk_groups(task, model, home)
            if groups is None:
                continue
            t, e, high, seed = groups
            p = _logrank_p(t, e, high)
            title = (f"{model}: test patients of every fold, seed {seed}\nhigh risk = above the fold's median "
                     f"predicted risk; log-rank p = {p:.3g}")
            plots.append(_img(_png(lambda buf, t=t, e=e, h=high, title=title: km_plot(
                {"low risk": (t[~h], e[~h]), "high risk": (t[h], e[h])}, title, unit, buf)), f"Kaplan-Meier {model}"))
        km = "".join(plots) or _not_run("no model with test predictions of repeat 0")
    sections.append(_section("km", "Kaplan-Meier curves of predicted risk groups, with numbers at risk", km))
    sections.append(_section("fairness", "Fairness per subgroup",
                             _fairness(task, best, home) if best else _not_run("no model run")))
    sections.append(_section("federated", "Federated vs centralised training",
                             _federated(task, home)))
    negative = controls_for(task)[0]
    head = (f"<h1>{esc(task.name)} <span class=\"note\">on {esc(task.dataset.id)}</span></h1>"
            f"<p>{esc(task.spec.description)}</p><p class=\"note\">kind {esc(task.kind)}; primary metric {esc(primary)} "
            f"({'higher' if higher else 'lower'} is better); scheme {esc(task.scheme)}; negative control {esc(negative)}"
            f"; clinical reference {esc(reference or 'none')}. Every figure comes from the runs and files in this "
            "OncoBench home; this page loads nothing from anywhere.</p>")
    return page(f"{task.name} — OncoBench report", head + "".join(sections))


def write_report(task: Task, out: Path, home: Path | None = None) -> Path:
    """Render the report and write it to ``out`` in one rename (nothing half-written is left)."""
    from oncobench.benchmark.ablation import atomic_write

    out = Path(out)
    atomic_write(out, render_report(task, home).encode("utf-8"))
    return out
