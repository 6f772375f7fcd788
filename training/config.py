"""Training hyper-parameters and the fine-tuning recipes' configs (configuration is data, stored with every model)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


FINETUNE_CONFIG = TrainConfig(lr=1e-4, freeze_norm_stats=True)  # "gentle": few labels, keep the base's statistics
FULL_FINETUNE_CONFIG = TrainConfig(lr=1e-3, freeze_norm_stats=False)  # "full": the base weights trained as from scratch


def finetune_recipe(n_labelled: int, choice: str = "auto") -> tuple[Recipe, TrainConfig]:
    """(name, config) of the fine-tuning recipe `placeq.recipes.choose` picks for `n_labelled` layouts."""
    recipe = choose(n_labelled, choice)
    return recipe, FULL_FINETUNE_CONFIG if recipe == "full" else FINETUNE_CONFIG
