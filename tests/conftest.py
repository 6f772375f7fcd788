"""Shared fixtures. Tests use the real PostgreSQL and Redis of the machine, never fakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The paper authors' benchmark netlists (BSD-3), read from ../shared, never copied into the repo.
UT_ANLAY = Path(os.environ.get("PLACEQ_UT_ANLAY", REPO.parent / "shared" / "ut-anlay"))
UT_ANLAY_DESIGNS = ("Telescopic_Three_stage", "Telescopic_Three_stage_1", "Core_FF", "Core_test_flow")


@pytest.fixture(scope="session")
def ut_anlay() -> Path:
    """Directory of UT-AnLay's netlists; such tests run whenever ../shared is present (always in CI)."""
    if not UT_ANLAY.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"UT-AnLay netlists missing at {UT_ANLAY}: CI must have ../shared")
        pytest.skip("../shared/ut-anlay not present")
    return UT_ANLAY
