"""OncoBench: a multi-omics cancer database and benchmark suite.

Three calls get a researcher going::

    ds = oncobench.load_dataset("tcga-mini")
    train, valid, test = ds.split("kfold", fold=0, repeat=0)
    X, features = ds.matrix("rna", patients=train)

and a benchmark task in three more::

    task = oncobench.load_task("pancan-type")
    split = task.get_split(fold=0, repeat=0)
    result = task.evaluate(predictions, split=split)
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Dataset", "Task", "load_dataset", "load_task", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import oncobench` stays cheap for the CLI and for readers.
    if name in ("Dataset", "load_dataset"):
        from oncobench.datasets import dataset

        return getattr(dataset, name)
    if name in ("Task", "load_task"):
        from oncobench.benchmark import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'oncobench' has no attribute {name!r}")
