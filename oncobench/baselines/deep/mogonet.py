"""MOGONET: one graph convolutional network per omics view on a patient-similarity graph, views combined by a
View Correlation Discovery Network (VCDN).

Per view, the patients' features (Top-k variance filter, scaling: :class:`ModalityPreprocessor` fitted on training
rows) define a weighted graph: cosine similarity, kept where it reaches an adaptive threshold chosen on the training
patients so that a patient keeps on average ``edges_per_node`` entries counting itself (the paper's k = 10),
self-loops, symmetric normalisation D^-1/2 (A + I) D^-1/2. Three graph-convolution layers (the paper's
[400, 400, 200] times ``width_scale``) and a linear classifier give each view's class scores; the VCDN takes the
outer product of the views' (sigmoid) score vectors, flattened to a c^V cross-view tensor, and maps it to the final
prediction with a two-layer network. Training follows the authors' schedule: the view networks are pre-trained
alone, then each epoch updates every view network on its own cross-entropy and then the VCDN on the fused
cross-entropy (alternating, one Adam per part).

Evaluation is inductive: ``fit`` builds the graphs on the training patients only; ``predict`` adds the new patients
to each view's graph (features only, never labels; the threshold stays the one fitted on the training patients) and
reads out their rows. With ``test_graph="paper"`` (default) the new patients are linked to training patients in both
directions and the training patients' mutual edges are left out, exactly as the authors' code builds its test
graph, so a prediction depends on the training data and on the features of all patients predicted together. With
``test_graph="train-only"`` a new patient only receives messages from its training neighbours and the training
patients keep their training graph, so each prediction depends on the training data and that patient's features
alone (the same whether patients are predicted one at a time or together).

Missing views: MOGONET has no mechanism for them. A patient without a view gets a zero row in that view (the
training mean after the preprocessor's scaling), which has cosine similarity 0 with everyone: in that view's graph
the patient keeps only its self-loop and the view's network scores it from that row.

Defaults versus the authors' code, each a constructor parameter: features standardised on the training fold
(``scale``; the authors' files come min-max scaled and their code uses them as given), symmetric normalisation
(``adjacency_norm``; the paper's text, the code row-normalises), an unweighted cross-entropy (``class_weight``;
the code weights each sample by its class's share), k = 10 and widths 0.1 x [400, 400, 200] (the authors use
k = 2 and [200, 200, 100] on ROSMAP, k = 10 and [400, 400, 200] on BRCA), 100 + 200 epochs (theirs 500 + 2,500),
a Top-500 variance filter (theirs: none, on 200-1,000 pre-selected features), early stopping on the validation
fold when one is given, and at most ``max_views`` views (the c^V tensor grows exponentially; the paper uses three
omics) chosen by training coverage. On the authors' ROSMAP split their settings reproduce the published figures
(``benchmarks/test_mogonet_rosmap.py``); the standardisation, symmetric normalisation and unweighted loss together
cost about 0.1 in accuracy, F1 and AUC there (seed 0: accuracy 0.70 vs 0.80, AUC 0.79 vs 0.90).

References
----------
Wang T, Shao W, Huang Z, Tang H, Zhang J, Ding Z, Huang K. MOGONET integrates multi-omics data using graph
convolutional networks allowing patient classification and biomarker identification. Nat Commun 12:3445, 2021.
Kipf TN, Welling M. Semi-supervised classification with graph convolutional networks. ICLR 2017.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from oncobench.baselines.deep.estimator import resolve_device
from oncobench.baselines.deep.tensors import fit_preprocessors
from oncobench.baselines.preprocess import modality_present
from oncobench.baselines.registry import register_model

TEST_GRAPHS = ("paper", "train-only")
NORMALIZATIONS = ("symmetric", "row")


# ---- graphs ------------------------------------------------------------------------------------------------
def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pairwise cosine similarity of the rows of ``a`` and ``b``; a zero row is similar to nothing (0)."""
    na = a / a.norm(dim=1, keepdim=True).clamp(min=eps)
    nb = b / b.norm(dim=1, keepdim=True).clamp(min=eps)
    return na @ nb.T


def adaptive_threshold(sim: torch.Tensor, edges_per_node: float) -> float:
    """The similarity threshold that keeps on average ``edges_per_node`` entries per patient, counting itself.

    The ``(edges_per_node - 1) * n`` largest off-diagonal similarities of the square matrix ``sim`` reach the
    threshold; with the self-loop each patient then has ``edges_per_node`` graph entries on average (the paper's
    "average number of edges retained per node, including self-connections").
    """
    n = sim.shape[0]
    off = sim[~torch.eye(n, dtype=torch.bool, device=sim.device)]
    budget = int(round((edges_per_node - 1) * n))
    if budget <= 0 or off.numel() == 0:
        return float("inf")
    budget = min(budget, off.numel())
    return float(torch.topk(off, budget).values[-1])


def _keep(sim: torch.Tensor, threshold: float) -> torch.Tensor:
    """Edge weights: the similarity where it reaches the threshold (and is positive), else 0."""
    return torch.where((sim >= threshold) & (sim > 0), sim, torch.zeros_like(sim))


def similarity_graph(z: torch.Tensor, threshold: float) -> torch.Tensor:
    """The weighted, symmetric training graph (no self-loops yet) of the rows of ``z``."""
    a = _keep(cosine_similarity(z, z), threshold)
    a.fill_diagonal_(0.0)
    return torch.maximum(a, a.T)  # the authors' symmetrisation (a no-op for cosine, kept for safety)


def normalize_adjacency(a: torch.Tensor, how: str = "symmetric") -> torch.Tensor:
    """A + I normalised: ``symmetric`` D^-1/2 (A + I) D^-1/2 (Kipf & Welling 2017, the paper's text) or ``row``
    D^-1 (A + I) (each row sums to 1: what the authors' code does)."""
    a_hat = a + torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    if how == "row":
        return a_hat / a_hat.sum(1, keepdim=True)
    if how != "symmetric":
        raise ValueError(f"adjacency normalisation {how!r}; expected one of {NORMALIZATIONS}")
    d = a_hat.sum(1).rsqrt()
    return d[:, None] * a_hat * d[None, :]


def inference_adjacency(z_train: torch.Tensor, z_new: torch.Tensor, threshold: float, mode: str = "paper",
                        train_adj: torch.Tensor | None = None, norm: str = "symmetric") -> torch.Tensor:
    """The normalised (n + m) x (n + m) operator over training then new patients, for reading out the new rows.

    ``paper``: new patients linked to training patients in both directions (the training threshold), no
    training-training or new-new edges, self-loops, normalised (``norm``), as the authors' test graph.
    ``train-only``: training rows are the training graph ``train_adj`` (raw weights, no self-loops) unchanged;
    a new patient's row holds its training neighbours and itself, normalised with the training degrees
    (``symmetric``) or to sum 1 (``row``), so a new patient receives messages and sends none.
    """
    n, m = len(z_train), len(z_new)
    cross = _keep(cosine_similarity(z_new, z_train), threshold)  # m x n
    if mode == "paper":
        a = torch.zeros(n + m, n + m, dtype=z_train.dtype, device=z_train.device)
        a[n:, :n] = cross
        a[:n, n:] = cross.T
        return normalize_adjacency(a, norm)
    if mode != "train-only":
        raise ValueError(f"test_graph {mode!r}; expected one of {TEST_GRAPHS}")
    if train_adj is None:
        raise ValueError("train-only inference needs the training graph")
    out = torch.zeros(n + m, n + m, dtype=z_train.dtype, device=z_train.device)
    out[:n, :n] = normalize_adjacency(train_adj, norm)
    if norm == "row":
        d_new = 1.0 / (cross.sum(1) + 1.0)
        out[n:, :n] = d_new[:, None] * cross
        out[n:, n:] = torch.diag(d_new)
        return out
    d_train = (train_adj.sum(1) + 1.0).rsqrt()
    d_new = (cross.sum(1) + 1.0).rsqrt()
    out[n:, :n] = d_new[:, None] * cross * d_train[None, :]
    out[n:, n:] = torch.diag(d_new * d_new)
    return out


# ---- networks ----------------------------------------------------------------------------------------------
class GraphConvolution(nn.Module):
    """H' = Â (H W) + b."""

    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(inputs, outputs))
        self.bias = nn.Parameter(torch.zeros(outputs))
        nn.init.xavier_normal_(self.weight)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return adj @ (x @ self.weight) + self.bias


class ViewGCN(nn.Module):
    """One view's encoder (three graph convolutions, LeakyReLU 0.25, dropout) and linear classifier."""

    def __init__(self, inputs: int, hidden: tuple[int, ...], classes: int, dropout: float) -> None:
        super().__init__()
        widths = (inputs, *hidden)
        self.layers = nn.ModuleList(GraphConvolution(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = dropout
        self.classifier = nn.Linear(widths[-1], classes)
        nn.init.xavier_normal_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = nn.functional.leaky_relu(layer(x, adj), 0.25)
            if i < len(self.layers) - 1:
                x = nn.functional.dropout(x, self.dropout, self.training)
        return self.classifier(x)


class VCDN(nn.Module):
    """View Correlation Discovery Network: outer product of the views' sigmoid scores -> two-layer network."""

    def __init__(self, n_views: int, classes: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(classes ** n_views, hidden), nn.LeakyReLU(0.25), nn.Linear(hidden, classes))
        for layer in (self.net[0], self.net[2]):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    @staticmethod
    def cross_view_tensor(scores: list[torch.Tensor]) -> torch.Tensor:
        """(batch, c^V): the flattened outer product of the per-view probability vectors."""
        probs = [torch.sigmoid(s) for s in scores]
        out = probs[0]
        for p in probs[1:]:
            out = torch.einsum("bi,bj->bij", out, p).flatten(1)
        return out

    def forward(self, scores: list[torch.Tensor]) -> torch.Tensor:
        return self.net(self.cross_view_tensor(scores))


# ---- estimator ---------------------------------------------------------------------------------------------
@register_model("mogonet", summary="MOGONET: per-omics GCNs on cosine patient-similarity graphs, fused by a View "
                "Correlation Discovery Network (cross-view tensor)",
                reference="Wang T et al., MOGONET, Nat Commun 12:3445, 2021", kinds=("classification", "binary"),
                modality_handling="one GCN per modality on its patient-similarity graph (inductive: new patients "
                "join the training graph at prediction, features only), VCDN over up to 3 modalities",
                missing="impute")
class MOGONET(BaseEstimator):
    """MOGONET classifier on a dict of modality matrices (classification and binary tasks).

    Parameters
    ----------
    kind : "classification" or "binary" (the same model).
    edges_per_node : the paper's k, average graph entries kept per patient, counting itself.
    hidden : the paper's graph-convolution widths, multiplied by ``width_scale``.
    vcdn_hidden : VCDN width (None: c^V, the paper's choice), at most ``max_vcdn_hidden``.
    pretrain_epochs, epochs : view-network pre-training, then alternating joint training (full batch).
    lr_pretrain, lr_view, lr_vcdn : Adam learning rates (the authors' 1e-3, 5e-4, 1e-3).
    patience : epochs without a better validation loss before stopping (with ``X_valid``).
    top_k : per-modality Top-k variance filter.
    scale : standardise each kept feature with the training mean and sd before the graphs are built (the
        authors' code uses its inputs as given: their files are already min-max scaled to [0, 1], and cosine
        similarity on standardised rows is a different graph).
    adjacency_norm : "symmetric" D^-1/2 (A + I) D^-1/2 (the paper's text) or "row" D^-1 (A + I) (the authors' code).
    class_weight : "frequency" weights each training patient's cross-entropy by its class's share of the
        training fold, as the authors' code does; None: unweighted.
    max_views : keep the views most training patients have (None: all).
    test_graph : "paper" or "train-only", how new patients join the graph at prediction (module docstring).

    References
    ----------
    Wang T et al. MOGONET integrates multi-omics data using graph convolutional networks allowing patient
    classification and biomarker identification. Nat Commun 12:3445, 2021.
    """

    def __init__(self, kind: str = "classification", edges_per_node: float = 10.0,
                 hidden: tuple[int, ...] = (400, 400, 200), width_scale: float = 0.1, dropout: float = 0.5,
                 vcdn_hidden: int | None = None, max_vcdn_hidden: int = 1024, pretrain_epochs: int = 100,
                 epochs: int = 200, lr_pretrain: float = 1e-3, lr_view: float = 5e-4, lr_vcdn: float = 1e-3,
                 patience: int = 30, top_k: int | None = 500, scale: bool = True, adjacency_norm: str = "symmetric",
                 class_weight: str | None = None, max_views: int | None = 3, test_graph: str = "paper",
                 device: str = "auto", random_state: int = 0) -> None:
        self.kind = kind
        self.edges_per_node = edges_per_node
        self.hidden = hidden
        self.width_scale = width_scale
        self.dropout = dropout
        self.vcdn_hidden = vcdn_hidden
        self.max_vcdn_hidden = max_vcdn_hidden
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.lr_pretrain = lr_pretrain
        self.lr_view = lr_view
        self.lr_vcdn = lr_vcdn
        self.patience = patience
        self.top_k = top_k
        self.scale = scale
        self.adjacency_norm = adjacency_norm
        self.class_weight = class_weight
        self.max_views = max_views
        self.test_graph = test_graph
        self.device = device
        self.random_state = random_state

    # ---- data ----------------------------------------------------------------------------------------------
    def _views(self, X: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
        """Preprocessed views; an absent view is the training mean (0 after scaling)."""
        out = []
        for m in self.modalities_:
            raw = np.asarray(X[m], dtype=np.float64)
            z = self.prep_[m].transform({m: raw})[:, :-1]
            z[~modality_present(raw)] = 0.0
            out.append(torch.as_tensor(z, dtype=torch.float32, device=self.device_))
        return out

    def _codes(self, y: Any) -> torch.Tensor:
        return torch.as_tensor(np.searchsorted(self.classes_, np.asarray(y)), dtype=torch.long, device=self.device_)

    # ---- training ------------------------------------------------------------------------------------------
    def fit(self, X: Mapping[str, np.ndarray], y: Any, X_valid: Mapping[str, np.ndarray] | None = None,
            y_valid: Any = None) -> "MOGONET":
        start = time.perf_counter()
        if self.kind not in ("classification", "binary"):
            raise ValueError(f"MOGONET classifies; kind {self.kind!r} is not supported")
        if self.test_graph not in TEST_GRAPHS:
            raise ValueError(f"test_graph {self.test_graph!r}; expected one of {TEST_GRAPHS}")
        if self.adjacency_norm not in NORMALIZATIONS:
            raise ValueError(f"adjacency_norm {self.adjacency_norm!r}; expected one of {NORMALIZATIONS}")
        if self.class_weight not in (None, "frequency"):
            raise ValueError(f"class_weight {self.class_weight!r}; expected None or 'frequency'")
        torch.manual_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        self.modalities_, self.prep_ = fit_preprocessors(X, self.top_k, scale=self.scale, limit=self.max_views)
        self.classes_ = np.unique(np.asarray(y))
        c, v = len(self.classes_), len(self.modalities_)
        self.train_views_ = self._views(X)
        self.thresholds_ = [adaptive_threshold(cosine_similarity(z, z), self.edges_per_node) for z in self.train_views_]
        self.train_graphs_ = [similarity_graph(z, t) for z, t in zip(self.train_views_, self.thresholds_)]
        adjs = [normalize_adjacency(a, self.adjacency_norm) for a in self.train_graphs_]
        labels = self._codes(y)
        weight = None
        if self.class_weight == "frequency":  # the authors' weights: a class's share of the training fold
            share = torch.bincount(labels, minlength=c).float() / len(labels)
            weight = share[labels]
        valid = None
        if X_valid is not None and y_valid is not None and len(np.asarray(y_valid)):
            known = np.isin(np.asarray(y_valid), self.classes_)
            if known.any():
                Xv = {m: np.asarray(X_valid[m])[known] for m in self.modalities_}
                valid = (self._inference_inputs(Xv), self._codes(np.asarray(y_valid)[known]))

        hidden = tuple(max(2, int(round(h * self.width_scale))) for h in self.hidden)
        self.views_ = nn.ModuleList(ViewGCN(z.shape[1], hidden, c, self.dropout) for z in self.train_views_)
        self.views_.to(self.device_)
        width = self.vcdn_hidden if self.vcdn_hidden is not None else c ** v
        self.vcdn_ = VCDN(v, c, min(width, self.max_vcdn_hidden)).to(self.device_) if v >= 2 else None
        self.n_params_ = int(sum(p.numel() for p in self.views_.parameters())
                             + (sum(p.numel() for p in self.vcdn_.parameters()) if self.vcdn_ is not None else 0))

        def ce(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
            if w is None:
                return nn.functional.cross_entropy(logits, target)
            return (nn.functional.cross_entropy(logits, target, reduction="none") * w).mean()

        def view_step(opts: list[torch.optim.Optimizer]) -> None:
            for net, z, adj, opt in zip(self.views_, self.train_views_, adjs, opts):
                opt.zero_grad(set_to_none=True)
                ce(net(z, adj), labels, weight).backward()
                opt.step()

        train_start = time.perf_counter()
        self.views_.train()
        pre = [torch.optim.Adam(net.parameters(), lr=self.lr_pretrain) for net in self.views_]
        for _ in range(self.pretrain_epochs):
            view_step(pre)
        opts = [torch.optim.Adam(net.parameters(), lr=self.lr_view) for net in self.views_]
        opt_c = torch.optim.Adam(self.vcdn_.parameters(), lr=self.lr_vcdn) if self.vcdn_ is not None else None
        best, best_loss, waited, self.history_ = None, np.inf, 0, []
        for epoch in range(self.epochs):
            self._train_mode(True)
            view_step(opts)
            if opt_c is not None:
                opt_c.zero_grad(set_to_none=True)
                scores = [net(z, adj) for net, z, adj in zip(self.views_, self.train_views_, adjs)]
                ce(self.vcdn_(scores), labels, weight).backward()  # only the VCDN steps here, as in the authors' code
                opt_c.step()
            record: dict[str, float] = {"epoch": float(epoch)}
            if valid is not None:
                with torch.no_grad():
                    self._train_mode(False)
                    record["valid"] = float(ce(self._logits(*valid[0]), valid[1]))
                if record["valid"] < best_loss - 1e-6:
                    best_loss, waited = record["valid"], 0
                    best = (copy.deepcopy(self.views_.state_dict()),
                            copy.deepcopy(self.vcdn_.state_dict()) if self.vcdn_ is not None else None)
                else:
                    waited += 1
                    if waited >= self.patience:
                        self.history_.append(record)
                        break
            self.history_.append(record)
        self.train_seconds_ = time.perf_counter() - train_start  # the epochs alone, without preprocessing and graphs
        if best is not None:
            self.views_.load_state_dict(best[0])
            if self.vcdn_ is not None:
                self.vcdn_.load_state_dict(best[1])
        self._train_mode(False)
        self.epochs_run_ = self.pretrain_epochs + len(self.history_)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _train_mode(self, on: bool) -> None:
        self.views_.train(on)
        if self.vcdn_ is not None:
            self.vcdn_.train(on)

    # ---- prediction ----------------------------------------------------------------------------------------
    def _inference_inputs(self, X: Mapping[str, np.ndarray]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per view, the training + new feature rows and the inference graph over them."""
        feats, adjs = [], []
        for z_train, z_new, t, a in zip(self.train_views_, self._views(X), self.thresholds_, self.train_graphs_):
            feats.append(torch.cat([z_train, z_new]))
            adjs.append(inference_adjacency(z_train, z_new, t, self.test_graph, a, self.adjacency_norm))
        return feats, adjs

    def _logits(self, feats: list[torch.Tensor], adjs: list[torch.Tensor]) -> torch.Tensor:
        n = len(self.train_views_[0])
        scores = [net(z, adj)[n:] for net, z, adj in zip(self.views_, feats, adjs)]
        return self.vcdn_(scores) if self.vcdn_ is not None else scores[0]

    @torch.no_grad()
    def view_proba(self, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each view's own class probabilities (softmax of its GCN classifier) for new patients."""
        self._train_mode(False)
        feats, adjs = self._inference_inputs(X)
        n = len(self.train_views_[0])
        return {m: torch.softmax(net(z, adj)[n:], 1).double().cpu().numpy()
                for m, net, z, adj in zip(self.modalities_, self.views_, feats, adjs)}

    @torch.no_grad()
    def predict_proba(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        """Class probabilities for new patients (columns in ``classes_`` order); labels are never read."""
        self._train_mode(False)
        logits = self._logits(*self._inference_inputs(X)).double().cpu().numpy()
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
