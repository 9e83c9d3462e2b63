"""Deep fusion networks as per-modality encoders + a fusion + a head, so parts can be swapped (MultiBench's
decomposition).

References
----------
Liang PP et al. MultiBench: multiscale benchmarks for multimodal representation learning. NeurIPS D&B 2021.
Vaswani A et al. Attention is all you need. NeurIPS 2017.
Chen RJ et al. Pathomic Fusion: an integrated framework for fusing histopathology and genomic features for
cancer diagnosis and prognosis. IEEE TMI 41(4), 2022 (gated attention + Kronecker product fusion).
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(inputs: int, hidden: int, outputs: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, outputs), nn.ReLU())


class Encoders(nn.Module):
    """One MLP per modality: (batch, features_m) -> (batch, embed)."""

    def __init__(self, widths: list[int], hidden: int, embed: int, dropout: float) -> None:
        super().__init__()
        self.nets = nn.ModuleList(mlp(w, hidden, embed, dropout) for w in widths)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [net(x) for net, x in zip(self.nets, xs)]


class ConcatFusion(nn.Module):
    """Masked concatenation: an absent modality contributes zeros and a 0 flag."""

    def __init__(self, n_modalities: int, embed: int) -> None:
        super().__init__()
        self.width = n_modalities * embed + n_modalities

    def forward(self, hs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([h * mask[:, i:i + 1] for i, h in enumerate(hs)] + [mask], dim=1)


class AttentionFusion(nn.Module):
    """Modality tokens (+ a learned modality embedding) through a transformer layer; absent modalities are masked
    out of the attention and of the mean pool, so missing data are handled natively."""

    def __init__(self, n_modalities: int, embed: int, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.modality = nn.Parameter(torch.zeros(n_modalities, embed))
        nn.init.normal_(self.modality, std=0.02)
        self.layer = nn.TransformerEncoderLayer(embed, heads, dim_feedforward=2 * embed, dropout=dropout,
                                                batch_first=True, norm_first=True)
        self.width = embed

    def forward(self, hs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        tokens = torch.stack(hs, dim=1) + self.modality[None]
        absent = mask < 0.5
        out = self.layer(tokens, src_key_padding_mask=absent)
        weights = mask[:, :, None]
        return (out * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def attention(self, hs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """Mean attention each modality token receives (batch, modalities): a per-modality contribution."""
        tokens = self.layer.norm1(torch.stack(hs, dim=1) + self.modality[None])
        _, w = self.layer.self_attn(tokens, tokens, tokens, key_padding_mask=mask < 0.5, need_weights=True)
        return w.mean(1)


class GatedFusion(nn.Module):
    """Pathomic Fusion: each modality's embedding is gated by all the others, then the Kronecker product of the
    gated vectors, each with a 1 appended (so unimodal and pairwise terms survive), is fused by an MLP.
    Two or three modalities; an absent modality's gated vector is zero (its 1 keeps the others' terms)."""

    def __init__(self, n_modalities: int, embed: int, gate_dim: int = 16, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        if not 1 <= n_modalities <= 3:  # one modality: its gated vector alone (inside late fusion, say)
            raise ValueError(f"gated fusion takes 1 to 3 modalities (the Kronecker product grows as (d+1)^n), got {n_modalities}")
        self.project = nn.ModuleList(nn.Sequential(nn.Linear(embed, gate_dim), nn.ReLU()) for _ in range(n_modalities))
        self.gate = nn.ModuleList(nn.Linear(n_modalities * embed, gate_dim) for _ in range(n_modalities))
        size = (gate_dim + 1) ** n_modalities
        self.post = nn.Sequential(nn.Dropout(dropout), nn.Linear(size, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.width = hidden + n_modalities * gate_dim

    def forward(self, hs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        joint = torch.cat([h * mask[:, i:i + 1] for i, h in enumerate(hs)], dim=1)
        gated = [torch.sigmoid(g(joint)) * p(h) * mask[:, i:i + 1]
                 for i, (h, p, g) in enumerate(zip(hs, self.project, self.gate))]
        ones = torch.ones(joint.shape[0], 1, device=joint.device, dtype=joint.dtype)
        product = torch.cat([gated[0], ones], 1)
        for z in gated[1:]:
            product = torch.einsum("bi,bj->bij", product, torch.cat([z, ones], 1)).flatten(1)
        return torch.cat([self.post(product)] + gated, dim=1)


class FusionNet(nn.Module):
    """encoders -> fusion -> head; ``aux`` heads (one per modality) serve late fusion and gradient blending."""

    def __init__(self, widths: list[int], outputs: int, *, fusion: str, hidden: int, embed: int, dropout: float,
                 aux: bool = False) -> None:
        super().__init__()
        self.encoders = Encoders(widths, hidden, embed, dropout)
        n = len(widths)
        if fusion == "concat":
            self.fusion: nn.Module = ConcatFusion(n, embed)
        elif fusion == "attention":
            self.fusion = AttentionFusion(n, embed, dropout=dropout)
        elif fusion == "gated":
            self.fusion = GatedFusion(n, embed, dropout=dropout)
        else:
            raise ValueError(f"unknown fusion {fusion!r}")
        self.head = nn.Linear(self.fusion.width, outputs)
        self.aux = nn.ModuleList(nn.Linear(embed, outputs) for _ in widths) if aux else None

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hs = self.encoders(xs)
        fused = self.head(self.fusion(hs, mask))
        aux = [head(h) for head, h in zip(self.aux, hs)] if self.aux is not None else []
        return fused, aux


class LateNet(nn.Module):
    """Late fusion: one encoder + head per modality; outputs combined with learned weights over the modalities a
    patient has (a softmax over present modalities)."""

    def __init__(self, widths: list[int], outputs: int, *, hidden: int, embed: int, dropout: float) -> None:
        super().__init__()
        self.encoders = Encoders(widths, hidden, embed, dropout)
        self.heads = nn.ModuleList(nn.Linear(embed, outputs) for _ in widths)
        self.logit_weights = nn.Parameter(torch.zeros(len(widths)))

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outs = [head(h) for head, h in zip(self.heads, self.encoders(xs))]
        stacked = torch.stack(outs, dim=1)  # batch, modalities, outputs
        w = torch.softmax(self.logit_weights[None].expand_as(mask).masked_fill(mask < 0.5, -1e9), dim=1)
        return (stacked * w[:, :, None]).sum(1), outs


class EarlyNet(nn.Module):
    """Early fusion: one MLP on the concatenated, preprocessed modalities (with their presence flags)."""

    def __init__(self, widths: list[int], outputs: int, *, hidden: int, embed: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(mlp(sum(widths) + len(widths), hidden, embed, dropout))
        self.head = nn.Linear(embed, outputs)

    def forward(self, xs: list[torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        joined = torch.cat([x * mask[:, i:i + 1] for i, x in enumerate(xs)] + [mask], dim=1)
        return self.head(self.body(joined)), []
