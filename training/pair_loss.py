"""Pairwise order losses: which of two layouts is worse, within one design only.

The labels of the paper are per design (its own worst quartile), and so is every measure we report (FOR at a
pruning rate of one design's layouts). A BCE pooled over many designs also asks a pretrained network to say how
bad a layout is *across* designs, which a picture of one layout cannot know (the worst quarter of one OTA may
look like the best of another). A pairwise (RankNet) loss on pairs of the same design asks only for the order
that pruning uses. `GroupRanking` adds it to `training.fit.fit`'s BCE, with minibatches made of same-design
blocks so that every batch holds pairs to rank; the few-shot value recipes (`training.ranking`) use the same
loss on the 120 ordered pairs of 16 layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

from placeq.errors import InputError


def _pairs(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(b)[:, None] & np.isfinite(b)[None, :] & (b[:, None] > b[None, :])
    worse, better = np.nonzero(keep)
    return worse.astype(np.int64), better.astype(np.int64)


def ordered_pairs(badness: np.ndarray, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(worse, better) index arrays of every pair whose badness differs (ties and NaN give no pair); with
    `groups`, only pairs of the same group, found group by group (memory sum of n_g^2, not n^2: a validation
    set of 20k rows over 47 designs stays small)."""
    b = np.asarray(badness, dtype=np.float64)
    if groups is None:
        return _pairs(b)
    g = np.asarray(groups)
    worse, better = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for k in np.unique(g):
        rows = np.flatnonzero(g == k)
        w, v = _pairs(b[rows])
        worse.append(rows[w])
        better.append(rows[v])
    return np.concatenate(worse), np.concatenate(better)


def pairwise_ranking_loss(logits: torch.Tensor, worse: torch.Tensor, better: torch.Tensor) -> torch.Tensor:
    """Mean RankNet loss log(1 + exp(s_better - s_worse)): small when every worse layout scores higher."""
    if worse.numel() == 0:
        return logits.sum() * 0.0  # no ordered pair: no signal, but a graph to backpropagate through
    return nn.functional.softplus(logits[better] - logits[worse]).mean()


@dataclass(frozen=True)
class GroupRanking:
    """A within-design ranking term for `training.fit.fit`: row-aligned with its `train` (and `val`) data."""

    groups: np.ndarray  # (n_train,) design of each training row
    badness: np.ndarray  # (n_train,) larger = worse (training.labels.badness); NaN: in no pair
    weight: float = 1.0  # loss = BCE + weight * RankNet over the batch's same-design ordered pairs
    block: int = 16  # same-design rows kept together in a minibatch
    val_groups: np.ndarray | None = None
    val_badness: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.groups) != len(self.badness):
            raise InputError("ranking", f"{len(self.groups)} groups for {len(self.badness)} values")
        if (self.val_groups is None) != (self.val_badness is None):
            raise InputError("ranking", "give both val_groups and val_badness, or neither")
        if self.block < 2:
            raise InputError("ranking", "a block needs at least 2 rows to hold a pair")

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        """One epoch's minibatches: each group's rows shuffled and cut into blocks of `block`, the blocks
        shuffled and joined `batch_size // block` at a time (every row once per epoch, as in `fit`)."""
        blocks: list[np.ndarray] = []
        for g in np.unique(self.groups):
            rows = rng.permutation(np.flatnonzero(self.groups == g))
            blocks += np.array_split(rows, max(1, round(len(rows) / self.block)))
        order = rng.permutation(len(blocks))
        per = max(1, batch_size // self.block)
        return [np.sort(np.concatenate([blocks[k] for k in order[i: i + per]]))
                for i in range(0, len(order), per)]

    def loss(self, logits: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """Weighted RankNet loss over the same-design ordered pairs among training rows `idx`, whose logits
        `logits` are, in that order."""
        worse, better = ordered_pairs(self.badness[idx], self.groups[idx])
        return self._weighted(logits, worse, better)

    def val_loss(self, logits: torch.Tensor) -> torch.Tensor:
        """The same over every validation row (`logits` in val order); the pairs are found once per fit."""
        worse, better = self._val_pairs
        return self._weighted(logits, worse, better)

    @cached_property
    def _val_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        if self.val_groups is None or self.val_badness is None:
            raise InputError("ranking", "no validation rows were given")
        return ordered_pairs(self.val_badness, self.val_groups)

    def _weighted(self, logits: torch.Tensor, worse: np.ndarray, better: np.ndarray) -> torch.Tensor:
        w, b = (torch.from_numpy(a).to(logits.device) for a in (worse, better))
        return pairwise_ranking_loss(logits, w, b) * self.weight


__all__ = ["GroupRanking", "ordered_pairs", "pairwise_ranking_loss"]
