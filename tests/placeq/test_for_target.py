"""A FOR target (issue 17): the least pruning of a space whose FOR, estimated on audit layouts, meets it."""

from __future__ import annotations

import numpy as np
import pytest

from placeq.errors import InputError
from placeq.explore import rate_for_target, wilson_upper


def test_the_least_rate_that_meets_the_target_is_chosen() -> None:
    space = np.linspace(0.0, 1.0, 101)[1:]  # 100 scores: pruning r cuts at 1 - r + 0.01
    audit = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.72, 0.81, 0.93])
    bad = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1], dtype=bool)  # the model ranks the audit perfectly
    t = rate_for_target(space, audit, bad, 0.0)
    # kept = audit < the cut; 0.72 is pruned once the cut is 0.72 or lower: 29 of 100 pruned
    assert (t.prune_rate, t.estimated_for, t.met, t.audit_kept) == (0.29, 0.0, True, 7)
    loose = rate_for_target(space, audit, bad, 0.2)  # 2 of 9 kept bad is 22%, 1 of 8 is 12.5%
    assert (loose.prune_rate, loose.audit_kept) == (0.20, 8) and loose.estimated_for == pytest.approx(1 / 8)
    assert rate_for_target(space, audit, bad, 0.3).prune_rate == 0.01  # 3/10 kept bad with (almost) no pruning


def test_an_unreachable_target_says_so_and_keeps_the_lowest_for_it_found() -> None:
    space = np.linspace(0.0, 1.0, 100)
    audit = np.linspace(0.0, 0.9, 12)
    bad = np.zeros(12, dtype=bool)
    bad[:3] = True  # the model scores the bad layouts best: pruning only makes it worse
    t = rate_for_target(space, audit, bad, 0.05)
    assert not t.met and t.prune_rate == 0.01 and t.estimated_for == pytest.approx(3 / 12)
    assert t.upper_95 > t.estimated_for


def test_too_few_audit_layouts_are_refused_naming_the_audit() -> None:
    with pytest.raises(InputError, match="audit") as err:
        rate_for_target(np.linspace(0, 1, 10), np.array([0.1, 0.9]), np.array([False, True]), 0.1)
    assert err.value.field == "audit"


def test_wilson_upper_bound() -> None:
    assert wilson_upper(0, 0) == 1.0
    assert wilson_upper(0, 30) == pytest.approx(0.0827, abs=1e-3)  # z = 1.645: about 2.7 / n for no events
    assert wilson_upper(3, 30) == pytest.approx(0.2255, abs=1e-3)  # 10% seen in 30: up to 22.6%
    assert wilson_upper(30, 30) == 1.0
