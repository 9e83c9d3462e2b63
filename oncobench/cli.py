"""The ``oncobench`` command: parses arguments and calls the library; no logic of its own."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Sequence, TypeVar

from oncobench.cli_errors import BUG_NOTE, describe, is_anticipated
from oncobench.datasets.errors import OncoBenchError

log = logging.getLogger("oncobench")


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from oncobench.datasets.summary import quickstart_report

    print(quickstart_report(args.dataset))
    if args.no_benchmark:
        return 0
    from oncobench.benchmark.quick import quick_benchmark
    from oncobench.benchmark.tracking import tracking_uri
    from oncobench.leaderboard.views import quick_leaderboard

    _require_writable_home()
    print("\nquick benchmark (every fold of repeat 0, seed 0; logged to MLflow):")
    reports, text = quick_benchmark(args.dataset, progress=not args.quiet)
    print(text)
    print(f"\nMLflow UI: mlflow ui --backend-store-uri {tracking_uri()}")
    print("\nleaderboard (baseline entries made from these runs; submit your own with `oncobench submit`):\n")
    print(quick_leaderboard(args.dataset))
    failed = [f for r in reports for f in r.failed]
    for key, error in failed:
        print(f"  FAILED {key}: {error}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_datasets_list(args: argparse.Namespace) -> int:
    from oncobench.datasets.recipes import RECIPES
    from oncobench.datasets.store import list_versions

    rows = list_versions()
    print(f"{'dataset':<22}{'version':<10}{'origin':<10}{'content sha256':<18}path")
    for r in rows:
        print(f"{r['name']:<22}{r['version']:<10}{r['origin']:<10}{r['content_hash'][:16]:<18}{r['path']}")
    built = {r["name"] for r in rows}
    for name, recipe in RECIPES.items():
        if name not in built:
            print(f"{name:<22}{'-':<10}{'recipe':<10}{'':<18}not built: oncobench datasets build {name}" + (" --raw-dir DIR" if name != "gse7390-metastasis" else ""))
    return 0


def _cmd_datasets_info(args: argparse.Namespace) -> int:
    from oncobench.datasets.dataset import load_dataset
    from oncobench.datasets.summary import coverage_report

    ds = load_dataset(args.name)
    print(ds.card())
    print()
    print(coverage_report(ds))
    return 0


def _cmd_datasets_build(args: argparse.Namespace) -> int:
    from oncobench.benchmark.task_cards import build_card
    from oncobench.datasets.recipes import build_recipe

    if not args.name.endswith(".toml"):
        folder = build_recipe(args.name, raw_dir=args.raw_dir, cache_dir=args.cache_dir, progress=not args.quiet,
                              version=args.version)
        print(f"built {args.name} at {folder}")
        return 0
    folder, tasks = build_card(Path(args.name), raw_dir=args.raw_dir)
    print(f"built {args.name} at {folder}")
    _print_card_build_report(folder)
    if tasks:
        print(f"tasks stored: {', '.join(tasks)}")
    return 0


def _print_card_build_report(folder: Path) -> None:
    from oncobench.datasets.store import read_manifest

    manifest = read_manifest(folder)
    print(f"{manifest['name']}@{manifest['version']}: {manifest['n_patients']} patients; "
          + ", ".join(f"{m} {v['n_patients']}x{v['n_features']}" for m, v in manifest["modalities"].items()))
    for e in manifest.get("endpoints", []):
        if "patients" in e:
            unit = "" if e["source_unit"] == "days" else f", converted from {e['source_unit']}"
            print(f"endpoint {e['name']}: {e['patients']} patients, {e['events']} events (time in days{unit})")
    for line in manifest.get("card", {}).get("build_report", {}).get("lines", []):
        print(f"  note: {line}")


def _cmd_datasets_card(args: argparse.Namespace) -> int:
    from oncobench.datasets.sources.generic import EXAMPLE_CARD, read_card

    if args.example:
        print(EXAMPLE_CARD, end="")
        return 0
    if args.check is None:
        raise ValueError("datasets card needs --example, or --check CARD [--raw-dir DIR]")
    from oncobench.datasets.sources.generic import card_content

    content = card_content(args.check, raw_dir=args.raw_dir)
    card = read_card(args.check, args.raw_dir)
    print(f"{args.check}: no problems; {card.name}@{card.version}, {content.clinical.height} patients, "
          + ", ".join(f"{m} {b[0].shape[0]}x{b[0].shape[1]}" for m, b in content.blocks.items()))
    for line in content.card["build_report"]["lines"]:
        print(f"  note: {line}")
    return 0


def _cmd_datasets_extend(args: argparse.Namespace) -> int:
    from oncobench.datasets.extend import extend_dataset

    folder, report = extend_dataset(args.name, args.card, version=args.version, raw_dir=args.raw_dir)
    print(f"extended {args.name} into {folder.parent.name}@{folder.name} at {folder}")
    for line in report:
        print(f"  {line}")
    return 0


def _cmd_datasets_remove(args: argparse.Namespace) -> int:
    from oncobench.datasets.derive import remove_version

    if "@" not in args.name:
        raise ValueError(f"datasets remove needs NAME@VERSION, got {args.name!r}")
    name, version = args.name.split("@", 1)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValueError(f"refusing to remove {args.name} without confirmation: no terminal to ask; pass --yes")
        answer = input(f"remove {args.name} and its files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not removed")
            return 1
    folder = remove_version(name, version)
    print(f"removed {args.name} ({folder})")
    return 0


def _cmd_datasets_synth(args: argparse.Namespace) -> int:
    from oncobench.datasets.recipes.synthetic import SynthSpec, build, parse_modalities

    spec = SynthSpec(args.name, patients=args.patients, cohorts=args.cohorts, modalities=parse_modalities(args.modalities),
                     seed=args.seed, version=args.version)
    folder = build(spec)
    print(f"built SYNTHETIC dataset {args.name}@{args.version} at {folder} (not patient data)")
    return 0


def _cmd_datasets_verify(args: argparse.Namespace) -> int:
    from oncobench.datasets.dataset import load_dataset

    ds = load_dataset(args.name, verify=True)
    print(f"{ds.id}: {len(ds.manifest['files'])} files match their sha256 (content {ds.content_hash})")
    return 0


def _cmd_datasets_export(args: argparse.Namespace) -> int:
    from oncobench.datasets.dataset import load_dataset
    from oncobench.datasets.export import export_dataset

    folder = export_dataset(load_dataset(args.name), args.format, args.out)
    print(f"exported {args.name} as {args.format} to {folder} (manifest.json, SHA256SUMS)")
    return 0


def _cmd_splits_export(args: argparse.Namespace) -> int:
    from oncobench.datasets.dataset import load_dataset
    from oncobench.datasets.export import export_splits

    folder = export_splits(load_dataset(args.name), args.scheme, args.out)
    print(f"exported split {args.scheme} of {args.name} to {folder} (manifest.json, SHA256SUMS)")
    return 0


def _cmd_splits_import(args: argparse.Namespace) -> int:
    from oncobench.datasets.split_import import import_splits

    folder, imported = import_splits(args.name, args.scheme, args.layout, args.files, version=args.version)
    for line in imported.report_lines(args.scheme):
        print(line)
    print(f"imported as scheme {args.scheme!r} into {folder.parent.name}@{folder.name} (new version; the old one is "
          f"unchanged); use it with --dataset {folder.parent.name}@{folder.name} --scheme {args.scheme}")
    return 0


def _cmd_splits_verify(args: argparse.Namespace) -> int:
    from oncobench.datasets.export import verify_export

    manifest = verify_export(args.folder)
    print(f"{args.folder}: {len(manifest['files'])} files match manifest.json ({manifest['dataset']}@{manifest['version']})")
    return 0


def _name(text: str) -> str:
    """argparse type: a non-blank name (task, dataset, model)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a name, got {text!r}")
    return text.strip()


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (worker processes, patients, cohorts)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _index_list(text: str) -> list[int]:
    """argparse type: comma-separated integers >= 0 (seeds, folds, repeats); duplicates are kept here, dropped later."""
    parts = [p.strip() for p in text.split(",")]
    if not any(parts) or not all(p.isdigit() for p in parts if p):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, got {text!r}")
    return [int(p) for p in parts if p]


def _model_list(text: str) -> list[str]:
    """argparse type: comma-separated model names, at least one (``--models ,`` would run only the controls)."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated model names, got {text!r}")
    return names


T = TypeVar("T")


def _once(values: Sequence[T], option: str) -> list[T]:
    """``values`` without repeats, in their first order; a repeat is noted, not an error (it would run a job twice)."""
    unique = list(dict.fromkeys(values))
    if len(unique) < len(values):
        repeated = [v for v in unique if values.count(v) > 1]
        log.warning("%s given more than once (%s); each runs once", option, ", ".join(map(str, repeated)))
    return unique


def _require_writable_home() -> None:
    """Fail at once, naming the folder, when the home cannot be written.

    Without this check MLflow retries opening its store for about 100 s and then reports a misleading error.
    """
    from oncobench.datasets.store import oncobench_home

    home = oncobench_home()
    home.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(home)) from exc
    store = home / "mlflow.db"
    if store.exists():
        with open(store, "r+b"):  # opened for writing, not written: a read-only store fails here, named
            pass


def _cmd_tasks_list(args: argparse.Namespace) -> int:
    from oncobench.benchmark.task_store import all_task_specs, stored_names
    from oncobench.benchmark.tasks import TaskDataError, load_task

    specs, broken = all_task_specs()
    stored = set(stored_names())
    print(f"{'task':<26}{'kind':<16}{'dataset':<22}{'patients':>9}  {'primary':<14}status")
    for name, spec in specs.items():
        dataset = args.dataset or spec.dataset
        try:
            task = load_task(name, dataset=dataset)
            problems = task.check()
            n = len(task.patients)
            more = f" (+{len(problems) - 1} more: `tasks info {name}`)" if len(problems) > 1 else ""
            status = "ok" if not problems else f"unusable here: {problems[0]}{more}"
            if not problems and task.spec.modalities and task.dropped_modalities:  # declared, absent here
                status += f" without {', '.join(task.dropped_modalities)} (absent here: `tasks info {name}`)"
        except (TaskDataError, OncoBenchError, KeyError) as exc:
            # a stored task whose dataset or column is gone is broken; a built-in one waits for its dataset
            n, status = 0, f"{'broken' if name in stored else 'unavailable'}: {exc}"
        print(f"{name:<26}{spec.kind:<16}{dataset:<22}{n:>9}  {spec.primary:<14}{status}")
    for name, reason in broken.items():
        print(f"{name:<26}{'?':<16}{'?':<22}{0:>9}  {'?':<14}broken: {reason}")
    return 0


def _cmd_tasks_add(args: argparse.Namespace) -> int:
    from oncobench.benchmark.task_cards import add_task_card

    for spec in add_task_card(args.card, replace=args.replace):
        print(f"task {spec.name} ({spec.kind}, target {spec.target}) on {spec.dataset} stored in the catalog")
    return 0


def _cmd_tasks_remove(args: argparse.Namespace) -> int:
    from oncobench.benchmark.task_store import remove_task

    remove_task(args.name)
    print(f"task {args.name} removed from the catalog (its results and leaderboard entries are kept)")
    return 0


def _cmd_tasks_info(args: argparse.Namespace) -> int:
    import json

    from oncobench.benchmark.tasks import load_task

    task = load_task(args.name, dataset=args.dataset, scheme=args.scheme)
    print(json.dumps(task.info() | {"input_schema": task.input_schema(), "problems": task.check()}, indent=2, default=str))
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from oncobench.baselines.registry import list_models

    print(f"{'model':<18}{'kinds':<44}{'role':<20}summary")
    for name, info in list_models().items():
        role = "control" if info.is_control else "clinical reference" if info.is_clinical_reference else "model"
        print(f"{name:<18}{','.join(info.kinds):<44}{role:<20}{info.summary}")
    return 0


def _load_tasks(names: Sequence[str], dataset: str | None, scheme: str | None) -> list:
    from oncobench.benchmark.tasks import load_task

    return [load_task(n, dataset=dataset, scheme=scheme) for n in names]


def _cmd_run(args: argparse.Namespace) -> int:
    from oncobench.benchmark.results import format_results, format_robustness, results_table, robustness_table
    from oncobench.benchmark.runner import run_grid

    import os

    if args.device:  # read by the deep models (worker processes inherit it)
        os.environ["ONCOBENCH_DEVICE"] = args.device
    if args.amp:
        os.environ["ONCOBENCH_AMP"] = "1"
    names, models = _once(args.task, "--task"), _once(args.models, "--models")
    seeds, folds, repeats = (None if v is None else _once(v, o) for v, o in
                             ((args.seeds, "--seeds"), (args.folds, "--folds"), (args.repeats, "--repeats")))
    _require_writable_home()
    tasks = _load_tasks(names, args.dataset, args.scheme)
    if repeats is None:
        from oncobench.benchmark.runner import default_repeats, small_task

        for task in tasks:
            if len(chosen := default_repeats(task)) > 1:
                print(f"{task.name}: small task ({small_task(task)}): repeated CV over every repeat of scheme "
                      f"{task.scheme} ({len(chosen)} repeats); --repeats 0 for one", file=sys.stderr)
    report = run_grid(tasks, models, seeds=seeds or [0], folds=folds,
                      repeats=repeats, n_jobs=args.jobs, force=args.force,
                      controls=not args.no_controls, progress=not args.quiet, executor=args.executor,
                      address=args.address, robustness=True if args.robustness else None)
    print(f"{report.planned} jobs: {report.ran} ran, {report.skipped} already finished, {len(report.failed)} failed")
    for key, error in report.failed:
        print(f"  FAILED {key}: {error}", file=sys.stderr)
    for task in tasks:
        print()
        print(format_results(task, results_table(task)))
        robust = robustness_table(task)
        if not robust.is_empty():
            print()
            print(format_robustness(task, robust))
    return 1 if report.failed else 0


def _cmd_federated(args: argparse.Namespace) -> int:
    from oncobench.benchmark.federated import (
        FederatedConfig,
        log_federated,
        run_federated,
        summary_text,
    )

    _require_writable_home()
    task = _load_tasks([args.task], args.dataset, None)[0]
    cfg = FederatedConfig(model=args.model or ("cox" if task.kind == "survival" else "logistic"), strategy=args.strategy,
                          rounds=args.rounds, top_k=args.top_k, l2=args.l2, min_patients=args.min_patients,
                          small=args.small, fold=args.fold, repeat=args.repeat, lr=args.lr, proximal_mu=args.mu,
                          local_epochs=args.local_epochs, batch_size=args.batch_size, seed=args.seed)
    result = run_federated(task, cfg)
    run_id = log_federated(result)
    print(summary_text(result, args.metric or task.spec.primary))
    print(f"\nlogged to MLflow (run {run_id}); `oncobench leaderboard export` shows it in the federated track")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from oncobench.benchmark.results import (by_cohort_table, format_by_cohort, format_per_fold, format_results,
                                             format_robustness, per_fold_table, results_table, robustness_table)

    if args.cd is not None:
        from oncobench.benchmark.results import rank_tasks

        print(rank_tasks(_once(args.task, "--task") if args.task else None, args.dataset, args.scheme, args.cd))
        return 0
    if not args.task:
        raise ValueError("results needs --task T (or --cd [PNG] to rank models across tasks)")
    for task in _load_tasks(_once(args.task, "--task"), args.dataset, args.scheme):
        print(format_results(task, results_table(task)))
        robust = robustness_table(task)
        if not robust.is_empty():
            print()
            print(format_robustness(task, robust))
        if args.per_fold:
            print()
            print(format_per_fold(task, per_fold_table(task)))
        if args.by:
            from oncobench.benchmark.fairness import fairness_results, format_fairness

            print()
            print(format_fairness(task, fairness_results(task, args.by)))
        if args.by_cohort:
            table = by_cohort_table(task)
            print()
            print(format_by_cohort(task, table))
            if task.kind in ("classification", "binary") and task.spec.primary != "accuracy":
                print()
                print(format_by_cohort(task, table, "accuracy"))
        print()
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from oncobench.benchmark.ablation import ablation_plot, format_ablation, run_ablation
    from oncobench.benchmark.tasks import load_task

    _require_writable_home()
    task = load_task(args.task, dataset=args.dataset)
    result, report = run_ablation(task, args.model, modalities=args.modalities, seeds=_once(args.seeds or [0], "--seeds"),
                                  folds=None if args.folds is None else _once(args.folds, "--folds"), n_jobs=args.jobs,
                                  executor=args.executor, address=args.address, force=args.force,
                                  progress=not args.quiet)
    print(f"{report.planned} jobs: {report.ran} ran, {report.skipped} already finished, {len(report.failed)} failed")
    for key, error in report.failed:
        print(f"  FAILED {key}: {error}", file=sys.stderr)
    print(format_ablation(result))
    if args.plot is not None:
        print(f"plot written to {ablation_plot(result, args.plot)}")
    return 1 if report.failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from oncobench.benchmark.report import write_report
    from oncobench.benchmark.tasks import load_task

    task = load_task(args.task, dataset=args.dataset)
    out = write_report(task, args.out or Path(f"report-{task.name}.html"))
    print(f"report of {task.name} on {task.dataset.id} written to {out} (one self-contained HTML file)")
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    from oncobench.benchmark.tasks import load_task
    from oncobench.leaderboard.submission import submit, write_template

    if args.template:
        task = load_task(args.template, dataset=args.dataset)
        out = write_template(task, args.out)
        print(f"template for {task.name} on {task.dataset.id} written to {out}: one file per fold of repeat 0 "
              f"(fold<k>_seed<s>.parquet) and meta.toml; edit both, then\n  oncobench submit --task {task.name}"
              + (f" --dataset {args.dataset}" if args.dataset else "") + f" --predictions {out}")
        return 0
    if not args.task or not args.predictions:
        raise ValueError("submit needs --task and --predictions (or --template TASK --out DIR)")
    task = load_task(args.task, dataset=args.dataset)
    source = args.predictions if args.predictions.is_dir() else args.predictions.read_bytes()
    entry = submit(task, source, meta_path=args.meta)
    print(f"accepted: {entry.method} v{entry.version} on {entry.task} ({entry.dataset}), status {entry.status}; "
          f"{entry.primary} {entry.score()['mean']:.4f} (re-scored by OncoBench)")
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from oncobench.benchmark.tasks import load_task
    from oncobench.leaderboard.views import export_site, leaderboard_text

    if args.action == "export":
        if args.out is None:
            raise ValueError("leaderboard export needs --out DIR")
        out = export_site(args.out)
        print(f"static site written to {out} (open {out / 'index.html'})")
        return 0
    if not args.task:
        raise ValueError("leaderboard needs --task T (or: leaderboard export --out DIR)")
    for name in args.task:
        print(leaderboard_text(load_task(name, dataset=args.dataset)))
        print()
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from oncobench.benchmark.explain import explain_fold, write_explanation
    from oncobench.benchmark.tasks import load_task

    task = load_task(args.task, dataset=args.dataset)
    explanation = explain_fold(task, args.model, fold=args.fold, seed=args.seed, method=args.method)
    out = write_explanation(explanation, args.out or Path(f"explain-{task.name}-{args.model}-fold{args.fold}"))
    print(f"{args.model} on {task.name} ({task.dataset.id}), fold {args.fold}, {explanation.method}:")
    print("modality contributions: " + ", ".join(f"{m} {v:.1%}" for m, v in
                                                  sorted(explanation.modalities.items(), key=lambda kv: -kv[1])))
    print("top features: " + ", ".join(f"{r['modality']}:{r['feature']}" for r in explanation.features.head(10).iter_rows(named=True)))
    if explanation.pam50:
        p = explanation.pam50
        print(f"PAM50 sanity check: {p['overlap']} of the top {p['top']} RNA genes are PAM50 genes "
              f"({p['pam50_measured']} of the 50 are measured among {p['rna_features_ranked']} genes; "
              f"{p['expected_by_chance']:.2f} expected by chance): {', '.join(p['overlap_genes'])}")
    print(f"written to {out}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from oncobench.leaderboard.api import serve

    print(f"serving the leaderboard on http://{args.host}:{args.port}/ (API: /api/tasks, /api/leaderboard/TASK)")
    serve(args.host, args.port, refresh_seconds=args.refresh)
    return 0


def _cmd_tokens_create(args: argparse.Namespace) -> int:
    from oncobench.leaderboard.db import LeaderboardDB

    with LeaderboardDB() as db:
        token = db.create_token(args.name)
    print(f"token for {args.name} (shown once; only its sha256 is stored):\n{token}")
    return 0


def _cmd_tokens_list(args: argparse.Namespace) -> int:
    from oncobench.leaderboard.db import LeaderboardDB

    tokens = LeaderboardDB().tokens()
    if not tokens:
        print("no tokens yet (oncobench tokens create NAME)")
        return 0
    width = max(len("name"), *(len(t.name) for t in tokens)) + 2
    print(f"{'name':<{width}}{'created':<21}{'last used':<21}revoked")
    for t in tokens:
        print(f"{t.name:<{width}}{t.created_at:<21}{t.last_used_at or 'never':<21}{t.revoked_at or 'no'}")
    return 0


def _cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from oncobench.leaderboard.db import LeaderboardDB

    LeaderboardDB().revoke_token(args.name)
    print(f"token {args.name} revoked: requests with it now get 401")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncobench", description="OncoBench: multi-omics cancer store and benchmark.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failure too (normally one 'oncobench: error:' line, exit code 2)")
    sub = parser.add_subparsers(dest="command", required=True)

    quick = sub.add_parser("quickstart", help="the main job on the embedded tcga-mini: card, splits and a quick benchmark")
    quick.add_argument("--dataset", default="tcga-mini")
    quick.add_argument("--no-benchmark", action="store_true", help="only the dataset card and split summary")
    quick.add_argument("--quiet", action="store_true", help="no progress bars")
    quick.set_defaults(func=_cmd_quickstart)

    datasets = sub.add_parser("datasets", help="list, inspect, build and export datasets").add_subparsers(dest="action", required=True)
    p = datasets.add_parser("list", help="built, embedded and buildable datasets")
    p.set_defaults(func=_cmd_datasets_list)
    p = datasets.add_parser("info", help="card and coverage of NAME[@VERSION]")
    p.add_argument("name", type=_name)
    p.set_defaults(func=_cmd_datasets_info)
    p = datasets.add_parser("build", help="build a dataset recipe (or your own cohort from a card.toml) into the store")
    p.add_argument("name", type=_name)
    p.add_argument("--raw-dir", type=Path, help="folder with the raw source files (offline; for a card: the folder its "
                   "paths are relative to); default: download pinned files (a card: its own folder)")
    p.add_argument("--cache-dir", type=Path, help="download cache (default $ONCOBENCH_HOME/cache/raw)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--version", help="recipe version (tcga-pancan: 1.0, the default, or 1.1)")
    p.set_defaults(func=_cmd_datasets_build)
    p = datasets.add_parser("card", help="print a commented example dataset card (--example) or check one (--check)")
    p.add_argument("--example", action="store_true", help="print a commented card with every key")
    p.add_argument("--check", type=Path, metavar="CARD", help="read a card and its files; report every problem at once")
    p.add_argument("--raw-dir", type=Path, help="folder the card's paths are relative to (default: the card's folder)")
    p.set_defaults(func=_cmd_datasets_card)
    p = datasets.add_parser("extend", help="a new version of NAME[@VERSION] with a modality, endpoint or clinical columns added")
    p.add_argument("name")
    p.add_argument("--card", type=Path, required=True, help="extension card: [[modalities]], [[endpoints]] and/or [clinical]")
    p.add_argument("--raw-dir", type=Path, help="folder the card's paths are relative to (default: the card's folder)")
    p.add_argument("--version", help="the new version (default VERSION+ext.NAME)")
    p.set_defaults(func=_cmd_datasets_extend)
    p = datasets.add_parser("remove", help="delete a built version NAME@VERSION (asks first, or --yes)")
    p.add_argument("name", metavar="NAME@VERSION")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=_cmd_datasets_remove)
    p = datasets.add_parser("synth", help="generate a synthetic multi-omics cohort with known structure (streamed)")
    p.add_argument("name", type=_name)
    p.add_argument("--patients", type=_positive_int, default=1000)
    p.add_argument("--cohorts", type=_positive_int, default=4)
    p.add_argument("--modalities", default="rna=20000,methylation=20000,mirna=1000,cnv=20000,pathology=600",
                   help="NAME=FEATURES,... (rna, methylation, mirna, cnv, pathology, protein, mutation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", default="1.0")
    p.set_defaults(func=_cmd_datasets_synth)
    p = datasets.add_parser("verify", help="check every file of NAME[@VERSION] against its sha256")
    p.add_argument("name", type=_name)
    p.set_defaults(func=_cmd_datasets_verify)
    p = datasets.add_parser("export", help="write NAME[@VERSION] as parquet, csv or mudata with a sha256 manifest")
    p.add_argument("name", type=_name)
    p.add_argument("--format", choices=["parquet", "csv", "mudata"], default="parquet")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_datasets_export)

    splits = sub.add_parser("splits", help="import, export and verify splits").add_subparsers(dest="action", required=True)
    p = splits.add_parser("export", help="write one split scheme (parquet + csv) with manifest.json and SHA256SUMS")
    p.add_argument("name")
    p.add_argument("--scheme", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_splits_export)
    p = splits.add_parser("import", help="bring published split files in as a new scheme (writes a new dataset version)",
                          description="Layouts: fold-csv (one CSV per fold, train/val/test columns), long (patient, "
                                      "repeat, fold, role), subsampling (iter, patient_id, set: one repeat per iter), "
                                      "id-lists (split_{train,val,test}_<k>.txt, one ID per line: one repeat per k).")
    p.add_argument("name", help="dataset NAME[@VERSION]")
    p.add_argument("--scheme", required=True, help="name of the new split scheme")
    p.add_argument("--layout", required=True, choices=["fold-csv", "long", "subsampling", "id-lists"])
    p.add_argument("--version", help="the new dataset version (default VERSION+splits.SCHEME)")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=_cmd_splits_import)
    p = splits.add_parser("verify", help="check an exported split folder against its manifest")
    p.add_argument("folder", type=Path)
    p.set_defaults(func=_cmd_splits_verify)

    tasks = sub.add_parser("tasks", help="benchmark tasks").add_subparsers(dest="action", required=True)
    p = tasks.add_parser("list", help="registered tasks and whether the data allow them")
    p.add_argument("--dataset", help="check the tasks on this dataset (e.g. tcga-mini) instead of their own")
    p.set_defaults(func=_cmd_tasks_list)
    p = tasks.add_parser("info", help="a task's target, modalities, cohorts, classes/events, metrics and input schema")
    p.add_argument("name", type=_name)
    p.add_argument("--dataset")
    p.add_argument("--scheme", help="another split scheme of the dataset (site: site shift)")
    p.set_defaults(func=_cmd_tasks_info)
    p = tasks.add_parser("add", help="check a task card (TOML) against its dataset and store its tasks in the catalog")
    p.add_argument("card", type=Path)
    p.add_argument("--replace", action="store_true", help="replace stored tasks of the same names")
    p.set_defaults(func=_cmd_tasks_add)
    p = tasks.add_parser("remove", help="remove a stored (card or persisted) task")
    p.add_argument("name")
    p.set_defaults(func=_cmd_tasks_remove)

    models = sub.add_parser("models", help="registered models").add_subparsers(dest="action", required=True)
    p = models.add_parser("list", help="registered models, controls and clinical references")
    p.set_defaults(func=_cmd_models_list)

    p = sub.add_parser("run", help="run models on tasks over folds and seeds; every job is logged to MLflow")
    p.add_argument("--task", action="append", required=True, type=_name, help="task name (repeatable; repeats run once)")
    p.add_argument("--models", required=True, type=_model_list,
                   help="comma-separated model names (at least one); NAME:late-mean|late-stack|late-cox for late fusion")
    p.add_argument("--seeds", type=_index_list, help="comma-separated seeds >= 0 (default 0)")
    p.add_argument("--folds", type=_index_list, help="comma-separated folds (default: all folds of each repeat)")
    p.add_argument("--repeats", type=_index_list,
                   help="comma-separated repeats (default 0; every repeat of the scheme for a small task: "
                        "< 100 events or < 200 patients)")
    p.add_argument("--jobs", type=_positive_int, default=1, help="worker processes, >= 1 (default 1)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="local processes or Ray tasks")
    p.add_argument("--address", help="Ray cluster address (auto, HOST:PORT); default: start a local Ray")
    p.add_argument("--dataset", help="run on another dataset with the task's columns, e.g. tcga-mini")
    p.add_argument("--scheme", help="another split scheme, e.g. site (site shift)")
    p.add_argument("--force", action="store_true", help="run finished jobs again")
    p.add_argument("--no-controls", action="store_true", help="do not add the negative control and clinical reference")
    p.add_argument("--device", help="deep models: cpu, cuda, cuda:N (default: CUDA when present)")
    p.add_argument("--amp", action="store_true", help="deep models: mixed precision on CUDA")
    p.add_argument("--robustness", action="store_true",
                   help="score the missing-modality protocol for every model (always on for deep models)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("federated", help="centralised vs federated (Flower, hospitals as clients) vs local-only on one split")
    p.add_argument("--task", required=True, type=_name, help="task name")
    p.add_argument("--model", choices=["logistic", "cox", "mlp-early"],
                   help="default: cox for survival tasks, logistic otherwise; mlp-early: the deep early-fusion network")
    p.add_argument("--strategy", choices=["newton", "fedavg", "fedprox"],
                   help="newton (linear default): FedAvg of gradients and Hessians + server Newton step (exact); "
                        "fedavg (deep default)/fedprox: averaged parameters after local training")
    p.add_argument("--lr", type=float, help="fedavg/fedprox local step size (default 0.5 linear, 0.05 deep SGD)")
    p.add_argument("--mu", type=float, default=0.1, help="fedprox proximal weight mu (default 0.1)")
    p.add_argument("--local-epochs", type=_positive_int, default=1, help="deep: local epochs per round (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="deep: local mini-batch (default 64; 0: full batch)")
    p.add_argument("--seed", type=int, default=0, help="deep: initial weights, dropout, batch order (default 0)")
    p.add_argument("--rounds", type=_positive_int, default=8, help="training rounds (default 8)")
    p.add_argument("--top-k", type=_positive_int, default=16, help="features kept per modality (default 16)")
    p.add_argument("--l2", type=float, default=0.05, help="ridge penalty on the mean loss (default 0.05)")
    p.add_argument("--min-patients", type=_positive_int, default=30,
                   help="training patients a hospital needs to be a client (default 30)")
    p.add_argument("--small", choices=["pool", "drop"], default="pool",
                   help="hospitals below the minimum: pooled into one client 'other' (default) or dropped")
    p.add_argument("--fold", type=int, default=0, help="split fold (default 0)")
    p.add_argument("--repeat", type=int, default=0, help="split repeat (default 0)")
    p.add_argument("--dataset", help="run on another dataset with the task's columns, e.g. tcga-mini")
    p.add_argument("--metric", help="metric shown in the table (default: the task's primary metric)")
    p.set_defaults(func=_cmd_federated)

    p = sub.add_parser("ablate", help="a model on every subset of a task's modalities: scores, Shapley values, minimal set")
    p.add_argument("--task", required=True, type=_name)
    p.add_argument("--model", required=True, type=_name, help="model spec without modalities, e.g. coxnet or coxnet:late-cox")
    p.add_argument("--modalities", type=_model_list, help="comma-separated modalities (default: every one the task offers; at most 6)")
    p.add_argument("--seeds", type=_index_list, help="comma-separated seeds >= 0 (default 0)")
    p.add_argument("--folds", type=_index_list, help="comma-separated folds of repeat 0 (default: all)")
    p.add_argument("--jobs", type=_positive_int, default=1, help="worker processes, >= 1 (default 1)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="local processes or Ray tasks")
    p.add_argument("--address", help="Ray cluster address (auto, HOST:PORT); default: start a local Ray")
    p.add_argument("--dataset", help="run on another dataset with the task's columns, e.g. tcga-mini")
    p.add_argument("--force", action="store_true", help="run finished jobs again")
    p.add_argument("--plot", type=Path, metavar="PNG", help="also write the plot here (it is always saved in the home)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("report", help="one self-contained HTML report of a task: scores, paired tests, ablation, KM curves")
    p.add_argument("--task", required=True, type=_name)
    p.add_argument("--dataset", help="the task's dataset, e.g. tcga-mini (default: the task's own)")
    p.add_argument("--out", type=Path, help="the HTML file (default report-TASK.html)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("submit", help="submit per-fold predictions to the leaderboard (validated and re-scored)")
    p.add_argument("--task")
    p.add_argument("--predictions", type=Path, help="folder or zip of fold<k>[_seed<s>].parquet|csv files")
    p.add_argument("--meta", type=Path, help="meta.toml (default: the one inside the folder or zip)")
    p.add_argument("--dataset", help="the task's dataset, e.g. tcga-mini (default: the task's own)")
    p.add_argument("--template", metavar="TASK", help="write a ready example submission for TASK to --out")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("leaderboard", help="ranked leaderboard of tasks; `leaderboard export --out DIR` writes the static site")
    p.add_argument("action", nargs="?", choices=["export"], help="export: write the static HTML site")
    p.add_argument("--task", action="append")
    p.add_argument("--dataset")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("explain", help="per-feature attributions and per-modality contributions of a deep model")
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dataset")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=["integrated_gradients", "gradient_x_input"], default="integrated_gradients")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("serve", help="serve the leaderboard pages and JSON API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--refresh", type=float, default=60.0, metavar="SECONDS",
                   help="import finished `oncobench run` results as baseline entries this often (default 60)")
    p.set_defaults(func=_cmd_serve)

    tokens = sub.add_parser("tokens", help="API tokens for submissions").add_subparsers(dest="action", required=True)
    p = tokens.add_parser("create", help="create a bearer token for NAME (printed once)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_tokens_create)
    p = tokens.add_parser("list", help="every token: name, created, last used, revoked (never the secret)")
    p.set_defaults(func=_cmd_tokens_list)
    p = tokens.add_parser("revoke", help="revoke NAME's token (requests with it get 401)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_tokens_revoke)

    p = sub.add_parser("results", help="aggregated results of tasks from the tracking store, with paired tests")
    p.add_argument("--task", action="append", type=_name,
                   help="task name (repeatable; with --cd: the tasks to rank, default all)")
    p.add_argument("--dataset")
    p.add_argument("--scheme")
    p.add_argument("--per-fold", action="store_true",
                   help="also every (model, repeat, fold, seed) score with n, events and the tuned hyperparameters")
    p.add_argument("--by-cohort", action="store_true", help="re-score every job's predictions per cohort (pooled tasks)")
    p.add_argument("--by", choices=("ancestry", "sex", "age", "site"),
                   help="scores per subgroup (genetic ancestry, sex, age band, hospital region) with n, events, the "
                        "worst group and the largest gap with bootstrap CIs; groups too small to score are marked")
    p.add_argument("--cd", type=Path, nargs="?", const=Path("critical-difference.png"), metavar="PNG",
                   help="mean ranks of models across tasks and a critical-difference diagram (default critical-difference.png)")
    p.set_defaults(func=_cmd_results)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an anticipated failure ends in one ``oncobench: error:`` line and exit code 2.

    See :mod:`oncobench.cli_errors` for what counts as anticipated; anything else is a bug and keeps its
    traceback. Output piped into a reader that stops early (``| head``) ends quietly.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic"):  # their INFO lines (schema migration) are not ours to print
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if not (args.verbose or args.debug):
        # MLflow logs a store error at ERROR, with its traceback, before raising it; the error itself reaches
        # the user as one line below (-v or --debug show MLflow's own log)
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "CRITICAL")
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader gone early surfaces here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        # The Python documentation's recipe (library/signal, "Note on SIGPIPE"): send the rest of stdout to
        # devnull so the flush at exit does not raise again, and exit with 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("oncobench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_anticipated(exc):
            exc.add_note(BUG_NOTE)
            raise
        if args.debug:
            traceback.print_exc()
        print(f"oncobench: error: {describe(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
