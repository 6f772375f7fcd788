"""Fine-tuning recipes by name, and the rule that picks one for a number of labelled layouts.

Torch-free so that the API can validate a job's ``recipe`` and the CLI can offer the choices without importing
training; `training.config.finetune_recipe` maps the chosen name to its training config.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

from placeq.errors import InputError

# gentle: lr 1e-4, BatchNorm statistics kept (the paper's few-shot transfer); full: lr 1e-3, statistics updated.
# rank*: use the simulated values (issue 14 part 3, training.ranking): a pairwise ranking loss on the logit plus
# the BCE on the sample's own worst-quartile labels; rank trains every layer (lr 1e-4), rank_head the dense head
# only, rank_last the last 3D block and the head (lr 1e-3, L2-SP toward the base weights), rank_bag averages the
# weights of rank_head fits on bootstrap resamples. score_last is the continuous score head: the last block and the
# head regress the logit onto each layout's rank among the values (logit 0 at the worst quartile's edge).
Recipe = Literal["gentle", "full", "rank", "rank_head", "rank_last", "rank_bag", "score_last"]
RecipeChoice = Literal["auto", "gentle", "full", "rank", "rank_head", "rank_last", "rank_bag", "score_last"]
CHOICES: tuple[str, ...] = get_args(RecipeChoice)
# The recipes that need the values, not labels.
VALUE_RECIPES: tuple[str, ...] = ("rank", "rank_head", "rank_last", "rank_bag", "score_last")
FULL_FROM = 100  # labelled layouts from which "auto" picks "full"
AUTO_WITH_VALUES: Recipe | None = None  # what "auto" picks below FULL_FROM when values are given (None: gentle)
DEFAULT_EPOCHS = 30  # most epochs of a training run (fine-tunes without a validation set run all of them)
HELP = (f"gentle: lr 1e-4, the base's BatchNorm statistics kept (few labels); full: lr 1e-3, statistics updated; "
        f"rank, rank_head, rank_last, rank_bag: a pairwise ranking loss on the values; score_last: the logit "
        f"regressed onto the values' ranks (value recipes need values, not labels; docs/generalization.md); "
        f"auto: gentle below {FULL_FROM} labelled layouts, full from {FULL_FROM} "
        f"(measured in docs/results)")


def choose(n_labelled: int, choice: str = "auto", *, values: bool = False) -> Recipe:
    """The recipe for `n_labelled` layouts: `choice`, or for "auto" gentle below FULL_FROM and full from it.

    Why the cut (docs/results, Table IV): from 148 labelled layouts on, the base trained at lr 1e-3 with its
    BatchNorm statistics updated ranks the target's layouts as well as or better than the gentle recipe on
    OTA2-OTA4 (FOR at 25% pruned 8.01 / 8.18 / 8.99% vs 8.67 / 8.26 / 12.69% at 148; 6.88 / 6.14 / 7.08% vs
    7.73 / 7.16 / 9.48% at 1,474). With `values` (the simulated metric, not only labels) "auto" picks
    AUTO_WITH_VALUES below FULL_FROM when one was measured to win (docs/generalization.md, "Few-shot recipes that
    use the values"). A value recipe without values is the caller's error: it has nothing to rank.
    """
    if choice == "auto":
        if n_labelled >= FULL_FROM:
            return "full"
        return AUTO_WITH_VALUES if values and AUTO_WITH_VALUES is not None else "gentle"
    for name in get_args(Recipe):
        if choice == name:
            if name in VALUE_RECIPES and not values:
                raise InputError("recipe", f"recipe {name!r} ranks layouts by their simulated values; give values "
                                           "(not 0/1 labels), or choose gentle or full")
            return cast(Recipe, name)
    raise InputError("recipe", f"unknown fine-tuning recipe {choice!r}; choose {', '.join(CHOICES)}")
