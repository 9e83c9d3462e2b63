"""Training throughput of the deep fusion models on tcga-pancan-sized inputs, on this machine's device.

Inputs: 5,720 patients (tcga-pancan's count) with its modality widths (rna 1,608, cnv 2,896, mutation 2,355,
mirna 383, pathology 640, clinical 4) and its missing-modality rates, random values, 16 classes; the whole fold on
the device. Each model trains 3 epochs (no validation fold, fixed budget); reported: samples per second
(patients x epochs / time in the training epochs, preprocessing excluded) and seconds per epoch, as a ratio to mlp-early timed in the same run. On a
GPU machine the same suite reports the GPU's figures (CUDA is used when present).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="deep models need the deep extra (PyTorch)")

from oncobench.baselines.registry import build_model  # noqa: E402

if TYPE_CHECKING:
    from conftest import BenchReport

N = 5720
WIDTHS = {"rna": 1608, "cnv": 2896, "mutation": 2355, "mirna": 383, "pathology": 640, "clinical": 4}
COVERAGE = {"rna": 0.92, "cnv": 0.84, "mutation": 1.0, "mirna": 0.40, "pathology": 0.62, "clinical": 1.0}
EPOCHS = 3
MODELS = ("mlp-early", "mlp-late", "attention-fusion", "attention-fusion-gb", "gated-fusion", "mlp-discrete-time")


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    X = {}
    for m, w in WIDTHS.items():
        values = rng.standard_normal((N, w)).astype(np.float32)
        values[rng.random(N) > COVERAGE[m]] = np.nan
        X[m] = values
    labels = np.array([f"T{i:02d}" for i in rng.integers(0, 16, N)], dtype=object)
    from sksurv.util import Surv

    surv = Surv.from_arrays(event=rng.random(N) < 0.4, time=rng.uniform(10, 3000, N))
    return X, labels, surv


@pytest.mark.parametrize("name", MODELS)
def test_training_throughput(benchmark, bench_report: "BenchReport", inputs, name: str) -> None:
    X, labels, surv = inputs
    kind = "survival" if name == "mlp-discrete-time" else "classification"
    y = surv if kind == "survival" else labels

    def train():
        model = build_model(name, kind, 0)
        model.set_params(epochs=EPOCHS, patience=EPOCHS)
        return model.fit(X, y)

    model = benchmark.pedantic(train, rounds=1, iterations=1, warmup_rounds=0)
    seconds = bench_report.mean(benchmark)
    per_epoch = model.train_seconds_ / EPOCHS  # training epochs only (forward, backward, step, per-epoch loss)
    rate = N * EPOCHS / model.train_seconds_
    bench_report.means[f"deep_{name}"] = seconds
    base = bench_report.means.get("deep_mlp-early", seconds)
    bench_report.lines.append(f"{name} on {model.device_} ({torch.get_num_threads()} threads): {rate:,.0f} samples/s, "
                              f"{per_epoch:.2f} s/epoch, {model.n_params_:,} parameters; whole fit {seconds:.1f} s "
                              f"(preprocessing included), {seconds / base:.2f}x mlp-early's")
    benchmark.extra_info |= {"samples_per_s": rate, "s_per_epoch": per_epoch, "n_params": model.n_params_,
                             "device": str(model.device_)}
    assert model.epochs_run_ == EPOCHS
