"""Dataset recipes: each combines source readers into one versioned store dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from oncobench.datasets.errors import DatasetNotFoundError


def _pancan(**kw) -> Path:
    from oncobench.datasets.recipes import tcga_pancan

    return tcga_pancan.build(**kw)


def _mini(**kw) -> Path:
    from oncobench.datasets.recipes import tcga_mini

    return tcga_mini.build(**kw)


def _gse7390(**kw) -> Path:
    from oncobench.datasets.recipes import gse7390

    return gse7390.build(**kw)


RECIPES: dict[str, Callable[..., Path]] = {
    "tcga-pancan": _pancan,
    "tcga-mini": _mini,
    "gse7390-metastasis": _gse7390,
}


def build_recipe(name: str, *, raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True,
                 version: str | None = None) -> Path:
    """Build recipe ``name`` (or a dataset card ``*.toml``; its paths relative to ``raw_dir`` when given) into the store.

    ``version`` picks one of a recipe's versions (tcga-pancan: 1.0, 1.1); default its first."""
    if name.endswith(".toml"):
        return build_card(Path(name), raw_dir=raw_dir)[0]
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, RECIPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetNotFoundError(f"no recipe {name!r}{hint} Known recipes: {', '.join(RECIPES)}")
    if version is not None:
        if name != "tcga-pancan":
            raise DatasetNotFoundError(f"recipe {name!r} has one version; --version applies to tcga-pancan (1.0, 1.1)")
        return RECIPES[name](raw_dir=raw_dir, cache_dir=cache_dir, progress=progress, version=version)
    return RECIPES[name](raw_dir=raw_dir, cache_dir=cache_dir, progress=progress)


def build_card(card_path: Path, *, raw_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Build a dataset card, then store its ``[[tasks]]`` (checked against the built data); the folder and task names.

    The tasks' ``dataset`` defaults to the card's name without a version, so they follow later versions
    (e.g. ``splits import``'s ``VERSION+splits.NAME``); an unchanged definition stored again is a no-op.
    What can be checked without the data (keys, kinds, metrics, a name taken by another definition) is
    checked before the build: a built version cannot be rebuilt, so a typo must not be found after it.
    """
    from oncobench.datasets.build import write_dataset
    from oncobench.datasets.sources.generic import card_content, read_card

    card = read_card(card_path, raw_dir)
    source = f"dataset card {card_path}"
    if card.tasks:
        _precheck_card_tasks(card.tasks, dataset=card.name, source=source)
    folder = write_dataset(card_content(card_path, raw_dir=raw_dir))
    if not card.tasks:
        return folder, []
    from oncobench.benchmark.task_cards import register_card_tasks

    specs = register_card_tasks(card.tasks, dataset=card.name, source=source)
    return folder, [s.name for s in specs]


def _precheck_card_tasks(tables: tuple[dict, ...], *, dataset: str, source: str) -> None:
    """Raise TaskCardError for every problem of the ``[[tasks]]`` tables that does not need the built data."""
    from oncobench.benchmark import catalog  # noqa: F401  (registers the built-in tasks)
    from oncobench.benchmark.task_cards import TaskCardError, parse_task_table
    from oncobench.benchmark.task_store import spec_to_json, stored_spec
    from oncobench.benchmark.tasks import TASKS

    problems: list[str] = []
    for i, table in enumerate(tables):
        where = f"tasks[{i}]" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
        spec, found = parse_task_table(table, where, default_dataset=dataset)
        problems += found
        if spec is None:
            continue
        if spec.name in TASKS:
            problems.append(f"{where}.name: {spec.name!r} is a built-in task; choose another name")
        stored = stored_spec(spec.name)
        if stored is not None and spec_to_json(stored) != spec_to_json(spec):
            problems.append(f"{where}: task {spec.name!r} is already stored with another definition; "
                            f"`oncobench tasks remove {spec.name}` first, or rename it")
    if problems:
        raise TaskCardError(source, problems)
