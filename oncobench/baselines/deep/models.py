"""The registered deep fusion models (``oncobench models list``); every one trains through :class:`DeepFusion`."""

from __future__ import annotations

from oncobench.baselines.deep.estimator import DeepFusion
from oncobench.baselines.registry import register_model

KINDS = ("classification", "binary", "survival", "translation")
MASK = "per-modality encoders; an absent modality is masked, never zero-filled"
MULTIBENCH = "Liang et al., MultiBench, NeurIPS D&B 2021"


@register_model("mlp-early", summary="Early-fusion MLP (concatenated modalities + presence flags), softmax / Cox / regression head",
                reference="Katzman et al., DeepSurv, BMC Med Res Methodol 2018", kinds=KINDS,
                modality_handling="early fusion: one MLP on the concatenated, preprocessed modalities and their presence flags",
                missing="impute")
def mlp_early(kind: str = "classification", random_state: int = 0) -> DeepFusion:
    return DeepFusion("early", kind=kind, random_state=random_state)


@register_model("mlp-late", summary="Per-modality MLPs with heads, combined by learned weights over present modalities",
                reference=MULTIBENCH, kinds=KINDS, modality_handling=MASK, missing="mask")
def mlp_late(kind: str = "classification", random_state: int = 0) -> DeepFusion:
    return DeepFusion("late", kind=kind, random_state=random_state)


@register_model("attention-fusion", summary="Modality tokens fused by a masked transformer layer",
                reference="Vaswani et al., NeurIPS 2017; MultiBench 2021", kinds=KINDS, modality_handling=MASK, missing="mask")
def attention_fusion(kind: str = "classification", random_state: int = 0) -> DeepFusion:
    return DeepFusion("attention", kind=kind, random_state=random_state)


@register_model("attention-fusion-gb", summary="attention-fusion trained with gradient blending (per-modality auxiliary heads)",
                reference="Wang, Tran & Feiszli, CVPR 2020", kinds=KINDS, modality_handling=MASK, missing="mask")
def attention_fusion_gb(kind: str = "classification", random_state: int = 0) -> DeepFusion:
    return DeepFusion("attention", kind=kind, gradient_blending=True, random_state=random_state)


@register_model("gated-fusion", summary="Gated attention + Kronecker product of the three best-covered modalities",
                reference="Chen et al., Pathomic Fusion, IEEE TMI 2022", kinds=KINDS, modality_handling=MASK + "; 3 modalities",
                missing="mask")
def gated_fusion(kind: str = "classification", random_state: int = 0) -> DeepFusion:
    return DeepFusion("gated", kind=kind, max_modalities=3, random_state=random_state)


@register_model("mlp-discrete-time", summary="Early-fusion MLP with a discrete-time hazard head (survival curves)",
                reference="Gensheimer & Narasimhan, PeerJ 2019", kinds=("survival",),
                modality_handling="early fusion: one MLP on the concatenated, preprocessed modalities and their presence flags",
                missing="impute")
def mlp_discrete_time(random_state: int = 0) -> DeepFusion:
    return DeepFusion("early", kind="survival", survival_head="discrete", random_state=random_state)
