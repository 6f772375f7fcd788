"""The names of the placement-quality networks, torch-free: the CLI offers them, training builds them.

`training.nets.PRESETS` holds one preset per name here and checks so at import; the paper's four models of
Table III come first, then ours (docs/models.md).
"""

from __future__ import annotations

from typing import Literal, get_args

Architecture = Literal["nofeat2d", "nofeat3d", "feat2d", "feat3d", "fast3d", "fast3d_flat"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
PAPER_ARCHITECTURES: tuple[str, ...] = ("nofeat2d", "nofeat3d", "feat2d", "feat3d")  # Table III
DEFAULT_ARCHITECTURE = "fast3d"  # the shipped base model's (docs/results/base_model.md)
