"""Training hyper-parameters and the fine-tuning recipes' configs (configuration is data, stored with every model)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from placeq import recipes
from placeq.devices import Device
from placeq.recipes import DEFAULT_EPOCHS, Recipe, choose


class TrainConfig(BaseModel):
    """Training hyper-parameters; stored with every checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(default=DEFAULT_EPOCHS, ge=1, description="Maximum number of epochs.")
    batch_size: int = Field(default=64, ge=1, description="Minibatch size (capped at the training set size).")
    lr: float = Field(default=1e-3, gt=0, description="AdamW learning rate (fine-tuning: ~1e-4).")
    weight_decay: float = Field(default=1e-4, ge=0, description="AdamW decoupled weight decay.")
    class_weight: Literal["none", "balanced"] = Field(
        default="none", description="balanced: weight positives by n_neg/n_pos in the loss (imbalanced labels)."
    )
    patience: int = Field(default=5, ge=1, description="Stop after this many epochs without val-loss improvement.")
    min_delta: float = Field(default=1e-4, ge=0, description="Smallest val-loss decrease that counts as improvement.")
    seed: int = Field(default=0, description="Seed for torch and the minibatch shuffling.")
    threads: int = Field(default=2, ge=0, description="torch.set_num_threads (0 = leave torch's default).")
    device: Device = Field(
        default="cpu", description="Where to train: auto = CUDA when present, else the CPU (fit.resolve_device)."
    )
    freeze_front: bool = Field(default=False, description="Fine-tuning: keep the separate 2D stack's weights.")
    freeze_norm_stats: bool = Field(
        default=False, description="Keep BatchNorm running statistics fixed (fine-tuning on few layouts)."
    )
    eval_batch_size: int = Field(default=256, ge=1, description="Batch size for validation and prediction.")
    report_train_accuracy: bool = Field(default=True, description="Score the training set once at the end.")


class ValuesConfig(BaseModel):
    """How a value recipe (training.ranking) trains: which layers, which losses, how far from the base.

    Kept apart from TrainConfig so the configs stored with gentle/full models stay exactly as they were.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["all", "last_block", "head"] = Field(
        default="all", description="Layers trained: every layer, the last 3D block + dense head, or the head only."
    )
    rank_weight: float = Field(default=1.0, ge=0, description="Weight of the pairwise ranking loss.")
    bce_weight: float = Field(default=1.0, ge=0, description="Weight of the BCE on the sample's own quartile labels.")
    l2sp: float = Field(default=0.0, ge=0, description="L2-SP: weight of sum ||w - w_base||^2 over trained weights.")
    bags: int = Field(default=1, ge=1, description="Bootstrap fits whose weights are averaged (1 = a single fit).")
    score_weight: float = Field(
        default=0.0, ge=0, description="Weight of the continuous score loss: the logit regressed onto each layout's "
        "rank among the training values (training.ranking.score_targets).",
    )


FINETUNE_CONFIG = TrainConfig(lr=1e-4, freeze_norm_stats=True)  # "gentle": few labels, keep the base's statistics
FULL_FINETUNE_CONFIG = TrainConfig(lr=1e-3, freeze_norm_stats=False)  # "full": the base weights trained as from scratch
# Value recipes: BatchNorm statistics kept as in gentle; no decay toward zero (L2-SP pulls toward the base instead).
RANK_CONFIG = TrainConfig(lr=1e-4, weight_decay=0.0, freeze_norm_stats=True)
RANK_TOP_CONFIG = TrainConfig(lr=1e-3, weight_decay=0.0, freeze_norm_stats=True)
VALUE_RECIPES: dict[str, tuple[TrainConfig, ValuesConfig]] = {
    "rank": (RANK_CONFIG, ValuesConfig(scope="all")),
    "rank_head": (RANK_TOP_CONFIG, ValuesConfig(scope="head", l2sp=0.1)),
    "rank_last": (RANK_TOP_CONFIG, ValuesConfig(scope="last_block", l2sp=0.1)),
    "rank_bag": (RANK_TOP_CONFIG, ValuesConfig(scope="head", l2sp=0.1, bags=5)),
    "score_last": (RANK_TOP_CONFIG, ValuesConfig(scope="last_block", l2sp=0.1, rank_weight=0.0, bce_weight=0.0,
                                                 score_weight=1.0)),
}
if tuple(VALUE_RECIPES) != recipes.VALUE_RECIPES:  # one name list: placeq.recipes, which the API and CLI offer
    raise RuntimeError(f"training.config value recipes {tuple(VALUE_RECIPES)} differ from placeq.recipes")


def finetune_recipe(n_labelled: int, choice: str = "auto", *, values: bool = False) -> tuple[Recipe, TrainConfig]:
    """(name, config) of the fine-tuning recipe `placeq.recipes.choose` picks for `n_labelled` layouts
    (`values`: the simulated values are at hand, so a value recipe may be chosen)."""
    recipe = choose(n_labelled, choice, values=values)
    if recipe in VALUE_RECIPES:
        return recipe, VALUE_RECIPES[recipe][0]
    return recipe, FULL_FINETUNE_CONFIG if recipe == "full" else FINETUNE_CONFIG


def values_config(recipe: str | None) -> ValuesConfig | None:
    """The value recipe's ValuesConfig, or None for a recipe that trains on labels only (gentle, full)."""
    return VALUE_RECIPES[recipe][1] if recipe in VALUE_RECIPES else None
