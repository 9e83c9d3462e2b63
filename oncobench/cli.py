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
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncobench", description="OncoBench: multi-omics cancer store and benchmark.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    quick = sub.add_parser("quickstart", help="the main job on the embedded tcga-mini: card and split summary")
    quick.add_argument("--dataset", default="tcga-mini")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (OncoBenchError, KeyError, ValueError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"oncobench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
