"""The ``oncobench`` command: parses arguments and calls the library; no logic of its own."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

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
    from oncobench.datasets.recipes import build_recipe

    folder = build_recipe(args.name, raw_dir=args.raw_dir, cache_dir=args.cache_dir, progress=not args.quiet)
    print(f"built {args.name} at {folder}")
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


def _cmd_splits_verify(args: argparse.Namespace) -> int:
    from oncobench.datasets.export import verify_export

    manifest = verify_export(args.folder)
    print(f"{args.folder}: {len(manifest['files'])} files match manifest.json ({manifest['dataset']}@{manifest['version']})")
    return 0


def _ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def _cmd_tasks_list(args: argparse.Namespace) -> int:
    from oncobench.benchmark import catalog  # noqa: F401  (registers the tasks)
    from oncobench.benchmark.tasks import TASKS, TaskDataError, load_task

    print(f"{'task':<26}{'kind':<16}{'dataset':<22}{'patients':>9}  {'primary':<14}status")
    for name, spec in TASKS.items():
        dataset = args.dataset or spec.dataset
        try:
            task = load_task(name, dataset=dataset)
            problems = task.check()
            n = len(task.patients)
            status = "ok" if not problems else f"unusable here: {problems[0]}"
        except (TaskDataError, OncoBenchError, KeyError) as exc:
            n, status = 0, f"unavailable: {exc}"
        print(f"{name:<26}{spec.kind:<16}{dataset:<22}{n:>9}  {spec.primary:<14}{status}")
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
    tasks = _load_tasks(args.task, args.dataset, args.scheme)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    report = run_grid(tasks, models, seeds=_ints(args.seeds) or [0], folds=_ints(args.folds),
                      repeats=_ints(args.repeats) or [0], n_jobs=args.jobs, force=args.force,
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


def _cmd_results(args: argparse.Namespace) -> int:
    from oncobench.benchmark.results import format_results, results_table

    from oncobench.benchmark.results import format_per_fold, format_robustness, per_fold_table, robustness_table

    for task in _load_tasks(args.task, args.dataset, args.scheme):
        print(format_results(task, results_table(task)))
        robust = robustness_table(task)
        if not robust.is_empty():
            print()
            print(format_robustness(task, robust))
        if args.per_fold:
            print()
            print(format_per_fold(task, per_fold_table(task)))
        print()
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
    serve(args.host, args.port)
    return 0


def _cmd_tokens_create(args: argparse.Namespace) -> int:
    from oncobench.leaderboard.db import LeaderboardDB

    with LeaderboardDB() as db:
        token = db.create_token(args.name)
    print(f"token for {args.name} (shown once; only its sha256 is stored):\n{token}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncobench", description="OncoBench: multi-omics cancer store and benchmark.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    p.add_argument("name")
    p.set_defaults(func=_cmd_datasets_info)
    p = datasets.add_parser("build", help="build a dataset recipe (or your own cohort from a card.toml) into the store")
    p.add_argument("name")
    p.add_argument("--raw-dir", type=Path, help="folder with the raw source files (offline); default: download pinned files")
    p.add_argument("--cache-dir", type=Path, help="download cache (default $ONCOBENCH_HOME/cache/raw)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_datasets_build)
    p = datasets.add_parser("synth", help="generate a synthetic multi-omics cohort with known structure (streamed)")
    p.add_argument("name")
    p.add_argument("--patients", type=int, default=1000)
    p.add_argument("--cohorts", type=int, default=4)
    p.add_argument("--modalities", default="rna=20000,methylation=20000,mirna=1000,cnv=20000,pathology=600",
                   help="NAME=FEATURES,... (rna, methylation, mirna, cnv, pathology, protein, mutation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", default="1.0")
    p.set_defaults(func=_cmd_datasets_synth)
    p = datasets.add_parser("verify", help="check every file of NAME[@VERSION] against its sha256")
    p.add_argument("name")
    p.set_defaults(func=_cmd_datasets_verify)
    p = datasets.add_parser("export", help="write NAME[@VERSION] as parquet, csv or mudata with a sha256 manifest")
    p.add_argument("name")
    p.add_argument("--format", choices=["parquet", "csv", "mudata"], default="parquet")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_datasets_export)

    splits = sub.add_parser("splits", help="export and verify curated splits").add_subparsers(dest="action", required=True)
    p = splits.add_parser("export", help="write one split scheme (parquet + csv) with manifest.json and SHA256SUMS")
    p.add_argument("name")
    p.add_argument("--scheme", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_splits_export)
    p = splits.add_parser("verify", help="check an exported split folder against its manifest")
    p.add_argument("folder", type=Path)
    p.set_defaults(func=_cmd_splits_verify)

    tasks = sub.add_parser("tasks", help="benchmark tasks").add_subparsers(dest="action", required=True)
    p = tasks.add_parser("list", help="registered tasks and whether the data allow them")
    p.add_argument("--dataset", help="check the tasks on this dataset (e.g. tcga-mini) instead of their own")
    p.set_defaults(func=_cmd_tasks_list)
    p = tasks.add_parser("info", help="a task's target, modalities, cohorts, classes/events, metrics and input schema")
    p.add_argument("name")
    p.add_argument("--dataset")
    p.add_argument("--scheme", help="another split scheme of the dataset (site: site shift)")
    p.set_defaults(func=_cmd_tasks_info)

    models = sub.add_parser("models", help="registered models").add_subparsers(dest="action", required=True)
    p = models.add_parser("list", help="registered models, controls and clinical references")
    p.set_defaults(func=_cmd_models_list)

    p = sub.add_parser("run", help="run models on tasks over folds and seeds; every job is logged to MLflow")
    p.add_argument("--task", action="append", required=True, help="task name (repeatable)")
    p.add_argument("--models", required=True, help="comma-separated model names; NAME:late-mean|late-stack|late-cox for late fusion")
    p.add_argument("--seeds", help="comma-separated seeds (default 0)")
    p.add_argument("--folds", help="comma-separated folds (default: all folds of each repeat)")
    p.add_argument("--repeats", help="comma-separated repeats (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
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
    p.set_defaults(func=_cmd_serve)

    tokens = sub.add_parser("tokens", help="API tokens for submissions").add_subparsers(dest="action", required=True)
    p = tokens.add_parser("create", help="create a bearer token for NAME (printed once)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_tokens_create)

    p = sub.add_parser("results", help="aggregated results of tasks from the tracking store")
    p.add_argument("--task", action="append", required=True)
    p.add_argument("--dataset")
    p.add_argument("--scheme")
    p.add_argument("--per-fold", action="store_true", help="also every (model, repeat, fold, seed) score")
    p.set_defaults(func=_cmd_results)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic"):  # their INFO lines (schema migration) are not ours to print
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (OncoBenchError, KeyError, ValueError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"oncobench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
