"""Export a dataset version or its splits as plain files with a sha256 manifest ("download curated splits").

A dataset export mirrors the store's layout, so the outcome/label table and a modality never share a
name (tcga-pancan has a ``clinical`` covariate modality beside its ``clinical`` outcome table)::

    clinical.<fmt>               one row per patient: cohort, outcomes, labels, site
    presence.<fmt>               patient_id and one boolean per modality
    modalities/<modality>.<fmt>  wide: patient_id, then one float32 column per feature
    splits/<scheme>.<fmt>        patient_id, repeat, fold, role

MuData puts the outcome table in ``.obs`` and each modality in ``.mod``, with the splits as Parquet beside it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from oncobench.datasets.dataset import Dataset
from oncobench.datasets.provenance import sha256_file
from oncobench.datasets.store import read_manifest, verify_files

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv", "mudata")
LAYOUT = {
    "parquet": "clinical.parquet (outcomes, labels), presence.parquet, modalities/<modality>.parquet, splits/<scheme>.parquet",
    "csv": "clinical.csv (outcomes, labels), presence.csv, modalities/<modality>.csv, splits/<scheme>.csv",
    "mudata": "<name>_<version>.h5mu (.obs: outcomes and labels; .mod: one AnnData per modality), splits/<scheme>.parquet",
}


def _finish(staging: Path, out: Path, header: dict[str, Any]) -> Path:
    """Checksum the staged files, write manifest.json and SHA256SUMS, move everything into ``out``."""
    files = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        files.append({"name": path.relative_to(staging).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size})
    (staging / "manifest.json").write_text(json.dumps({**header, "files": files}, indent=1), encoding="utf-8")
    (staging / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {f['name']}\n" for f in files), encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    # data files first, the manifest last: a reader that finds a manifest finds complete files
    moved = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.name in ("manifest.json", "SHA256SUMS"))
    for path in moved:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging, ignore_errors=True)
    return out


def _staging(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".export-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    return staging


def _header(ds: Dataset, **extra: Any) -> dict[str, Any]:
    return {"dataset": ds.name, "version": ds.version, "content_hash": ds.content_hash, **extra}


def wide_frame(ds: Dataset, modality: str) -> pl.DataFrame:
    """A modality as a wide table: ``patient_id`` then one float32 column per feature."""
    values, features = ds.matrix(modality)
    rows = ds.modality_patients(modality)
    frame = pl.DataFrame(values, schema=features, orient="row") if features else pl.DataFrame()
    return frame.insert_column(0, pl.Series("patient_id", rows))


def export_dataset(ds: Dataset, fmt: str, out: str | Path) -> Path:
    """Write clinical, presence, every modality (wide) and every split in ``fmt`` (layout: module docstring)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = Path(out) / f"{ds.name}_{ds.version}_{fmt}"
    staging = _staging(out)
    try:
        if fmt == "mudata":
            _write_mudata(ds, staging / f"{ds.name}_{ds.version}.h5mu")
            tables = {f"splits/{s}": ds.split_table(s) for s in ds.schemes}
        else:
            tables = {"clinical": ds.clinical, "presence": ds.presence}
            tables.update({f"modalities/{m}": wide_frame(ds, m) for m in ds.modalities})
            tables.update({f"splits/{s}": ds.split_table(s) for s in ds.schemes})
        suffix = "csv" if fmt == "csv" else "parquet"
        for name, table in tables.items():
            path = staging / f"{name}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.write_csv(path) if suffix == "csv" else table.write_parquet(path)
        (staging / "card.txt").write_text(ds.card() + "\n", encoding="utf-8")
        return _finish(staging, out, _header(ds, format=fmt, layout=LAYOUT[fmt], modalities=ds.manifest["modalities"],
                                             splits=ds.manifest.get("splits", {})))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_mudata(ds: Dataset, path: Path) -> None:
    try:
        import anndata as ad
        import mudata as md
    except ImportError as exc:  # optional extra
        raise ImportError("MuData export needs the 'export' extra: pip install 'oncobench[export]'") from exc
    obs = ds.clinical.to_pandas().set_index("patient_id")
    obs.index = obs.index.astype(str)
    mods = {}
    for modality in ds.modalities:
        values, features = ds.matrix(modality)
        rows = ds.modality_patients(modality)
        adata = ad.AnnData(X=values, obs=obs.loc[rows].iloc[:, :0].copy())
        adata.var_names = features
        mods[modality] = adata
    with warnings.catch_warnings(), md.set_options(pull_on_update=False):
        # mudata 0.3 announces a 0.4 behaviour change on every update; we already opt in to it
        warnings.filterwarnings("ignore", category=FutureWarning, module="mudata")
        mdata = md.MuData(mods)
        mdata.obs = mdata.obs.join(obs)
        mdata.uns["oncobench"] = json.dumps(_header(ds))
        mdata.write(str(path))


def export_splits(ds: Dataset, scheme: str, out: str | Path) -> Path:
    """Write one split scheme as Parquet and CSV with manifest.json and SHA256SUMS; returns the folder."""
    table = ds.split_table(scheme)
    out = Path(out)
    staging = _staging(out)
    try:
        stem = f"{ds.name}_{ds.version}_{scheme}"
        table.write_parquet(staging / f"{stem}.parquet")
        table.write_csv(staging / f"{stem}.csv")
        return _finish(staging, out, _header(ds, scheme=scheme, spec=ds.manifest["splits"][scheme],
                                             columns=["patient_id", "repeat", "fold", "role"]))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def verify_export(folder: str | Path) -> dict[str, Any]:
    """Check an exported folder against its manifest; returns the manifest, raises :class:`ChecksumError`."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest["files"])
    return manifest
