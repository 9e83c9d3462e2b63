"""Tasks on datasets already in the home: what the server and the site may open without building anything.

``load_task`` builds an offline recipe (gse7390-metastasis) on demand; a request to the server must never make
it do that. A dataset named in a query counts only when ``list_versions`` knows it (built or embedded).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from oncobench.benchmark.tasks import Task, load_task, task_spec
from oncobench.datasets.errors import OncoBenchError
from oncobench.datasets.store import list_versions


class DatasetNotBuiltError(OncoBenchError):
    """The dataset (version) is not built in this home; the server does not build on request."""


def built_dataset(name: str, home: Path | None = None) -> str:
    """``name`` or ``name@version`` if that version is built or embedded here, else :class:`DatasetNotBuiltError`."""
    base, _, version = name.partition("@")
    try:
        known = list_versions(home)
    except duckdb.Error as exc:  # the catalog is being written by a build in another process
        raise DatasetNotBuiltError(f"dataset {name!r}: the catalog cannot be read now ({exc}); try again") from None
    versions = [v["version"] for v in known if v["name"] == base]
    if not versions or (version and version not in versions):
        have = f"versions here: {', '.join(versions)}" if versions else "no version of it is"
        raise DatasetNotBuiltError(f"dataset {name!r} is not built in this home ({have}); leaderboard pages and the "
                                   f"server never build one: `oncobench datasets build {base}` does")
    return name


def load_built_task(name: str, dataset: str | None = None, home: Path | None = None) -> Task:
    """:func:`load_task` for a dataset already built (or embedded); never builds, downloads or writes."""
    spec = task_spec(name)
    built_dataset(dataset or spec.dataset, home)
    return load_task(name, dataset=dataset)
