"""Text reports of a dataset: coverage tables and the quick-start summary."""

from __future__ import annotations

import polars as pl

from oncobench.datasets.dataset import Dataset, load_dataset


def coverage_report(ds: Dataset) -> str:
    """Patients per cohort x modality, then (where recorded) merge rules and the methylation CpG overlap."""
    cov = ds.coverage()
    table: pl.DataFrame = cov["by_cohort"]
    width = {m: max(11, len(m) + 2) for m in ds.modalities}
    head = f"{'cohort':<12}{'patients':>9}" + "".join(f"{m:>{width[m]}}" for m in ds.modalities)
    lines = [f"coverage: {cov['patients']} patients, {cov['cohorts']} cohorts", head]
    for row in table.iter_rows(named=True):
        lines.append(f"{row['cohort']:<12}{row['patients']:>9}" + "".join(f"{row[m]:>{width[m]}}" for m in ds.modalities))
    lines.append(f"{'total':<12}{cov['patients']:>9}" + "".join(f"{cov['modalities'][m]:>{width[m]}}" for m in ds.modalities))
    extra = merge_report(ds)
    return "\n".join(lines) + (f"\n\n{extra}" if extra else "")


def merge_report(ds: Dataset) -> str:
    """Per merged source: which source won on shared values, how many values both gave and how many differed."""
    info = ds.manifest.get("modalities", {})
    lines = []
    for modality, entry in info.items():
        for r in entry.get("merge_rules", []):
            lines.append(f"  {modality:<12} {r['other']} into {r['winner']}: {r['winner']} wins; "
                         f"{r['overlap_cells']} shared values, {r['cells_differing']} differed; "
                         f"+{r['patients_added']} patients, +{r['features_added']} features")
    overlap = info.get("methylation", {}).get("cpg_overlap")
    if overlap:
        pairs = ", ".join(f"{k} {v}" for k, v in overlap["pairwise"].items())
        lines.append(f"  methylation CpGs per source {overlap['n_cpgs']}; shared: {pairs}; by all: {overlap['all']}")
    return "merge rules (source added into a modality):\n" + "\n".join(lines) if lines else ""


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
