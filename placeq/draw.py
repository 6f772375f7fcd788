"""Pictures of a placement beside its feature images (like the paper's Fig. 2 and Fig. 4), for people.

Drawn on matplotlib's Agg canvas through `matplotlib.figure.Figure` (no pyplot global state), so it runs
headless and from several threads. Feature images use the reversed grey map on [0, 1], dark = high, as the
paper's Fig. 4 does; row 0 is the top, matching the layout panel's orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from placeq.domain import KIND_INTENSITY, Placement, Subcircuit
from placeq.errors import InputError
from placeq.features import (
    FEATURE_SETS,
    FEATURE_SHAPE,
    NOFEAT_CHANNELS,
    NOFEAT_SHAPE,
    SET_COMPONENTS,
    rasterize,
)

# One colour per subcircuit (colour-blind-safe Okabe-Ito palette); untagged devices are grey.
SUBCIRCUIT_COLORS: dict[Subcircuit, str] = {
    Subcircuit.FIRST_STAGE: "#0072B2",
    Subcircuit.OTHER_STAGE: "#E69F00",
    Subcircuit.FEEDBACK: "#CC79A7",
    Subcircuit.CMFB: "#009E73",
    Subcircuit.BIAS: "#D55E00",
}
UNTAGGED_COLOR = "#999999"
# Device names are written only up to this many devices; beyond, they would cover the layout.
MAX_LABELS = 40
_TITLES = {
    "first_stage": "First stage",
    "other_stage": "Other stages",
    "feedback": "Feedback",
    "cmfb": "CMFB",
    "bias": "Bias",
    "routing_demand": "Routing demand",
    "devices": "All devices",
}


def _save(fig: Figure, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, dpi=fig.dpi)
    return out


def _draw_layout(ax: Axes, placement: Placement) -> None:
    label = len(placement.devices) <= MAX_LABELS
    for d in placement.devices:
        color = SUBCIRCUIT_COLORS[d.tags[0]] if d.tags else UNTAGGED_COLOR
        # Fill alpha follows the kind's Table II intensity, so kinds read apart as in the feature images.
        ax.add_patch(
            Rectangle((d.x, d.y), d.w, d.h, facecolor=color, alpha=0.25 + 0.5 * KIND_INTENSITY[d.kind], lw=0.8)
        )
        ax.add_patch(Rectangle((d.x, d.y), d.w, d.h, fill=False, edgecolor=color, lw=0.8))
        if len(d.tags) > 1:  # further subcircuits as inner outlines
            for k, tag in enumerate(d.tags[1:], start=1):
                inset = 0.06 * k * min(d.w, d.h)
                ax.add_patch(
                    Rectangle(
                        (d.x + inset, d.y + inset),
                        d.w - 2 * inset,
                        d.h - 2 * inset,
                        fill=False,
                        edgecolor=SUBCIRCUIT_COLORS[tag],
                        lw=0.8,
                        ls="--",
                    )
                )
        if label:
            ax.text(d.x + d.w / 2, d.y + d.h / 2, d.name, ha="center", va="center", fontsize=6, clip_on=True)
    for net in placement.nets():
        pins = [p for p in placement.pins if p.net == net]
        if len(pins) < 2:
            continue
        x0, y0 = min(p.box.x0 for p in pins), min(p.box.y0 for p in pins)
        x1, y1 = max(p.box.x1 for p in pins), max(p.box.y1 for p in pins)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="0.35", lw=0.4, ls=":", alpha=0.7))
    if placement.pins:
        centres = np.array([((p.box.x0 + p.box.x1) / 2, (p.box.y0 + p.box.y1) / 2) for p in placement.pins])
        ax.scatter(centres[:, 0], centres[:, 1], s=3, c="k", zorder=3, linewidths=0)
    bb = placement.bounding_box()
    side = max(bb.x1 - bb.x0, bb.y1 - bb.y0)
    cx, cy = (bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2
    ax.set_xlim(cx - side / 2, cx + side / 2)  # the rasterizer's square frame
    ax.set_ylim(cy - side / 2, cy + side / 2)
    ax.set_aspect("equal")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.6) for c in SUBCIRCUIT_COLORS.values()]
    ax.legend(
        handles,
        [_TITLES[s.value] for s in SUBCIRCUIT_COLORS],
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=len(handles),
        frameon=False,
    )


def _images_of(features: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if features.shape == FEATURE_SHAPE:
        step = len(SET_COMPONENTS)
        return [(name, features[step * k]) for k, name in enumerate(FEATURE_SETS)]
    if features.shape == NOFEAT_SHAPE:
        return list(zip(NOFEAT_CHANNELS, features, strict=True))
    raise InputError("features", f"expected shape {FEATURE_SHAPE} or {NOFEAT_SHAPE}, got {features.shape}")


def _draw_image(ax: Axes, name: str, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(_TITLES.get(name, name), fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_placement(placement: Placement, path: Path | str, *, title: str | None = None) -> Path:
    """PNG of the placement (left) and its six feature images (right); returns the path written."""
    features = rasterize(placement)  # (18, 64, 64)
    fig = Figure(figsize=(11.0, 4.8), dpi=110, layout="constrained")
    grid = fig.add_gridspec(2, 5, width_ratios=[1.6, 1.6, 1, 1, 1])
    _draw_layout(fig.add_subplot(grid[:, :2]), placement)
    for k, (name, image) in enumerate(_images_of(features)):
        _draw_image(fig.add_subplot(grid[k // 3, 2 + k % 3]), name, image)
    n_nets = sum(1 for n in placement.nets() if sum(p.net == n for p in placement.pins) >= 2)
    fig.suptitle(
        title
        or f"{placement.design}: {len(placement.devices)} devices, {len(placement.pins)} pins, {n_nets} routed nets",
        fontsize=10,
    )
    return _save(fig, path)


def draw_features(features: np.ndarray, path: Path | str, *, title: str | None = None, coords: bool = False) -> Path:
    """PNG of a feature tensor, (18, 64, 64) or (2, 64, 64): its images, or with `coords` all 18 channels."""
    features = np.asarray(features)
    if coords and features.shape == FEATURE_SHAPE:
        fig = Figure(figsize=(9.0, 5.4), dpi=110, layout="constrained")
        axes = fig.subplots(len(SET_COMPONENTS), len(FEATURE_SETS))
        for k, name in enumerate(FEATURE_SETS):
            for c, comp in enumerate(SET_COMPONENTS):
                _draw_image(axes[c, k], name if c == 0 else f"{name}: {comp}", features[3 * k + c])
                axes[c, k].title.set_fontsize(6)
    else:
        images = _images_of(features)
        cols = 3 if len(images) > 2 else len(images)
        rows = -(-len(images) // cols)
        fig = Figure(figsize=(2.4 * cols, 2.5 * rows), dpi=110, layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, (name, image) in zip(axes, images, strict=True):
            _draw_image(ax, name, image)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
