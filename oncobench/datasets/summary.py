"""Text reports of a dataset: coverage tables and the quick-start summary."""

from __future__ import annotations

import polars as pl

from oncobench.datasets.dataset import Dataset, load_dataset


def coverage_report(ds: Dataset) -> str:
    """Patients per cohort x modality, then outcome and label coverage."""
    cov = ds.coverage()
    table: pl.DataFrame = cov["by_cohort"]
    head = f"{'cohort':<12}{'patients':>9}" + "".join(f"{m:>11}" for m in ds.modalities)
    lines = [f"coverage: {cov['patients']} patients, {cov['cohorts']} cohorts", head]
    for row in table.iter_rows(named=True):
        lines.append(f"{row['cohort']:<12}{row['patients']:>9}" + "".join(f"{row[m]:>11}" for m in ds.modalities))
    lines.append(f"{'total':<12}{cov['patients']:>9}" + "".join(f"{cov['modalities'][m]:>11}" for m in ds.modalities))
    return "\n".join(lines)


def split_summary(ds: Dataset) -> str:
    """Per scheme: folds x repeats and the train/valid/test sizes of repeat 0, fold 0."""
    lines = ["splits (repeat 0, fold 0: train / valid / test patients):"]
    for scheme in ds.schemes:
        spec = ds.manifest["splits"][scheme]
        train, valid, test = ds.split(scheme, fold=0, repeat=0)
        lines.append(
            f"  {scheme:<10} {spec['n_folds']} folds x {spec['n_repeats']} repeats   "
            f"{len(train)} / {len(valid)} / {len(test)}"
        )
    return "\n".join(lines)


def quickstart_report(name: str = "tcga-mini") -> str:
    """What ``oncobench quickstart`` prints: the dataset card, its coverage and a split summary."""
    ds = load_dataset(name)
    return "\n\n".join([ds.card(), coverage_report(ds), split_summary(ds)])
