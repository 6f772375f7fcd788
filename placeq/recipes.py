"""Fine-tuning recipes by name, and the rule that picks one for a number of labelled layouts.

Torch-free so that the API can validate a job's ``recipe`` and the CLI can offer the choices without importing
training; `training.config.finetune_recipe` maps the chosen name to its training config.
"""

from __future__ import annotations

from typing import Literal, get_args

from placeq.errors import InputError

Recipe = Literal["gentle", "full"]  # gentle: lr 1e-4, BatchNorm statistics kept; full: lr 1e-3, statistics updated
RecipeChoice = Literal["auto", "gentle", "full"]
CHOICES: tuple[str, ...] = get_args(RecipeChoice)
FULL_FROM = 100  # labelled layouts from which "auto" picks "full"
DEFAULT_EPOCHS = 30  # most epochs of a training run (fine-tunes without a validation set run all of them)
HELP = (f"gentle: lr 1e-4, the base's BatchNorm statistics kept (few labels); full: lr 1e-3, statistics updated; "
        f"auto: gentle below {FULL_FROM} labelled layouts, full from {FULL_FROM} (measured in docs/results)")


def choose(n_labelled: int, choice: str = "auto") -> Recipe:
    """The recipe for `n_labelled` layouts: `choice`, or for "auto" gentle below FULL_FROM and full from it.

    Why the cut (docs/results, Table IV): from 148 labelled layouts on, the base trained at lr 1e-3 with its
    BatchNorm statistics updated ranks the target's layouts as well as or better than the gentle recipe on
    OTA2-OTA4 (FOR at 25% pruned 8.01 / 8.18 / 8.99% vs 8.67 / 8.26 / 12.69% at 148; 6.88 / 6.14 / 7.08% vs
    7.73 / 7.16 / 9.48% at 1,474). Few-shot (16 layouts) was measured with the gentle recipe only.
    """
    if choice == "auto":
        return "full" if n_labelled >= FULL_FROM else "gentle"
    if choice == "gentle":
        return "gentle"
    if choice == "full":
        return "full"
    raise InputError("recipe", f"unknown fine-tuning recipe {choice!r}; choose {', '.join(CHOICES)}")
