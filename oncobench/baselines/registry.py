"""The model registry: a name -> a factory plus required metadata.

Register a model (any class following the scikit-learn contract, taking a dict of modality matrices in
``fit``/``predict``) with the decorator, or from another package through the ``oncobench.models`` entry point
group (the entry point names the decorated object)::

    from oncobench.baselines.registry import register_model

    @register_model("my-model", summary="...", reference="...", kinds=("classification",),
                    modality_handling="early fusion", missing="impute")
    class MyModel(BaseEstimator):
        def __init__(self, random_state=0): ...

A model spec is ``NAME[:FUSION][/MOD1+MOD2]``: ``coxnet`` (early fusion of the task's default inputs),
``coxnet:late-cox`` (one coxnet per modality, combined by a Cox model), ``coxnet/rna`` (RNA only: how the best
single modality is found), ``coxnet:late-cox/rna+cnv``, ``coxnet/rna+clinical``.

Unknown names raise with a "did you mean" suggestion; nothing else is ever run in their place.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from oncobench.datasets.errors import OncoBenchError

log = logging.getLogger(__name__)

KINDS = ("classification", "binary", "survival", "clustering", "translation", "imputation")  # task kinds (TaskSpec checks these too)
MISSING_POLICIES = ("impute", "drop", "mask")
FUSIONS = ("early", "late-mean", "late-stack", "late-cox")


class ModelNotFoundError(OncoBenchError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class IncompatibleModelError(OncoBenchError, ValueError):
    """A model asked to run on a task kind it does not support."""


@dataclass(frozen=True)
class ModelInfo:
    """Metadata every registered model must give."""

    name: str
    factory: Callable[..., Any]
    summary: str
    reference: str
    kinds: tuple[str, ...]
    modality_handling: str
    missing: str
    needs_gpu: bool = False
    is_control: bool = False
    is_clinical_reference: bool = False
    modalities: tuple[str, ...] | None = None  # a model restricted to some modalities (e.g. clinical only)
    reads_clinical: bool = False  # reads the task's offered ``clinical`` modality beside its default inputs

    def build(self, kind: str, random_state: int, **params: Any) -> Any:
        """A fresh, unfitted estimator for a task kind and seed."""
        if kind not in self.kinds:
            raise IncompatibleModelError(f"model {self.name!r} supports {', '.join(self.kinds)} tasks, not {kind!r}")
        accepted = inspect.signature(self.factory).parameters
        # Context (kind, seed, n_clusters ...) goes only to factories that take it.
        context = {"kind": kind, "random_state": random_state, **params}
        return self.factory(**{k: v for k, v in context.items() if k in accepted})


MODELS: dict[str, ModelInfo] = {}
_ENTRY_POINTS_LOADED = False
_DEEP_UNAVAILABLE: str | None = None
DEEP_MODELS = ("mlp-early", "mlp-late", "attention-fusion", "attention-fusion-gb", "gated-fusion", "mlp-discrete-time",
               "mogonet", "multimodal-vae")


def register_model(
    name: str, *, summary: str, reference: str, kinds: tuple[str, ...], modality_handling: str, missing: str,
    needs_gpu: bool = False, is_control: bool = False, is_clinical_reference: bool = False,
    modalities: tuple[str, ...] | None = None, reads_clinical: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a class or factory under ``name`` with its metadata."""

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        if not summary or not reference:
            raise ValueError(f"model {name!r}: summary and reference are required")
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ValueError(f"model {name!r}: unknown task kinds {bad}; expected some of {KINDS}")
        if missing not in MISSING_POLICIES:
            raise ValueError(f"model {name!r}: missing-modality policy {missing!r}; expected one of {MISSING_POLICIES}")
        if ":" in name or "/" in name:
            raise ValueError(f"model {name!r}: ':' and '/' are reserved for the spec suffixes (name:late-mean/rna+cnv)")
        existing = MODELS.get(name)
        if existing is not None and existing.factory is not factory:
            raise ValueError(f"model {name!r} is already registered (by {existing.factory.__module__})")
        MODELS[name] = ModelInfo(name, factory, summary, reference, tuple(kinds), modality_handling, missing,
                                 needs_gpu, is_control, is_clinical_reference, modalities, reads_clinical)
        return factory

    return wrap


def _load_builtin() -> None:
    from oncobench.baselines import classical, clinical_fusion, controls, imputers, survival, unsupervised  # noqa: F401  (they register)

    global _DEEP_UNAVAILABLE
    try:
        from oncobench.baselines.deep import models, mogonet, vae  # noqa: F401  (needs torch: the `deep` extra)
    except ImportError as exc:
        _DEEP_UNAVAILABLE = str(exc)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in metadata.entry_points(group="oncobench.models"):
        try:
            ep.load()  # importing the object runs its @register_model
        except Exception as exc:  # a broken plug-in must not hide the built-in models
            log.error("entry point %s (%s) failed to load: %s", ep.name, ep.value, exc)


def list_models() -> dict[str, ModelInfo]:
    _load_builtin()
    _load_entry_points()
    return dict(sorted(MODELS.items()))


def get_model(name: str) -> ModelInfo:
    """The registered model ``name`` (without a fusion suffix)."""
    models = list_models()
    if name not in models and name in DEEP_MODELS and _DEEP_UNAVAILABLE:
        raise ModelNotFoundError(f"model {name!r} needs PyTorch, which did not import ({_DEEP_UNAVAILABLE}): "
                                 "pip install 'oncobench[deep]'")
    try:
        return models[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        raise ModelNotFoundError(f"unknown model {name!r}{hint} Known models: {', '.join(models)}") from None


def parse_model_spec(spec: str) -> tuple[ModelInfo, str]:
    """``"logreg"`` -> (logreg, "early"); ``"coxnet:late-cox/rna+cnv"`` -> (coxnet, "late-cox").

    The modality suffix is validated here and returned by :func:`spec_modalities`.
    """
    head, _, _ = spec.partition("/")
    spec_modalities(spec)
    name, _, fusion = head.partition(":")
    fusion = fusion or "early"
    if fusion not in FUSIONS:
        close = difflib.get_close_matches(fusion, FUSIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelNotFoundError(f"unknown fusion {fusion!r} in {spec!r}{hint} Known: {', '.join(FUSIONS)}")
    return get_model(name), fusion


def spec_modalities(spec: str) -> tuple[str, ...] | None:
    """The modalities a spec restricts its model to (``coxnet/rna+cnv`` -> ("rna", "cnv")), or None."""
    _, slash, tail = spec.partition("/")
    if not slash:
        return None
    mods = tuple(m.strip() for m in tail.split("+"))
    if not all(mods) or "/" in tail:
        raise ModelNotFoundError(f"model spec {spec!r}: expected NAME[:FUSION]/MOD1+MOD2 (e.g. coxnet/rna+cnv)")
    if len(set(mods)) != len(mods):
        raise ModelNotFoundError(f"model spec {spec!r} names a modality twice")
    return mods


def build_model(spec: str, kind: str, random_state: int, **context: Any) -> Any:
    """An unfitted estimator for a model spec (name plus optional fusion) on a task kind."""
    from oncobench.baselines.fusion import LateFusion

    info, fusion = parse_model_spec(spec)
    if info.reads_clinical and fusion != "early":
        raise IncompatibleModelError(f"{spec}: {info.name} is itself a late fusion (of clinical covariates and "
                                     "per-modality scores); drop the fusion suffix")
    if fusion == "early" or info.is_control:
        return info.build(kind, random_state, **context)
    if kind not in ("classification", "binary", "survival"):
        raise IncompatibleModelError(f"{spec}: late fusion combines per-modality predictions of classification or "
                                     f"survival models, not {kind!r}")
    if fusion == "late-cox" and kind != "survival":
        raise IncompatibleModelError(f"{spec}: late-cox combines risk scores; it needs a survival task, not {kind!r}")
    info.build(kind, random_state)  # fails early if the base model does not support the kind
    return LateFusion(base=info.name, kind=kind, combine=fusion.removeprefix("late-"), random_state=random_state)
