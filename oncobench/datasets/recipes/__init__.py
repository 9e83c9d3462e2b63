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


def _mlomics(**kw) -> Path:
    from oncobench.datasets.recipes import mlomics

    return mlomics.build(**kw)


RECIPES: dict[str, Callable[..., Path]] = {
    "tcga-pancan": _pancan,
    "tcga-mini": _mini,
    "gse7390-metastasis": _gse7390,
    "mlomics": _mlomics,
}


def build_recipe(name: str, *, raw_dir: Path | None = None, cache_dir: Path | None = None, progress: bool = True,
                 version: str | None = None) -> Path:
    """Build recipe ``name`` (or a dataset card ``*.toml``; its paths relative to ``raw_dir`` when given) into the store.

    ``version`` picks one of a recipe's versions (tcga-pancan: 1.0, 1.1); default its first."""
    if name.endswith(".toml"):  # the data only: `oncobench datasets build` also stores the card's [[tasks]]
        from oncobench.datasets.build import write_dataset  # (oncobench.benchmark.task_cards.build_card)
        from oncobench.datasets.sources.generic import card_content

        return write_dataset(card_content(Path(name), raw_dir=raw_dir))
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
