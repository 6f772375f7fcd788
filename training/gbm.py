"""The strong simple baseline of issue 14: gradient-boosted trees on hand-made placement geometry.

What an analog designer would look at first, as numbers that mean the same thing on every OTA (lengths are
divided by the layout's side, the larger of its bounding box's width and height, so that designs of different
sizes share one scale; the side itself is a feature too):

- the input pair (the transistors gated by the testbench inputs): separation in x, y and total; how far the
  pair's midpoint sits from the tail (the device driving the pair's common source) in x and y; the difference
  between the two inputs' distances to the tail;
- every matched pair (`symmetry_pairs`): mean and largest separation in x and y, and the spread of the pairs'
  midpoints in x (a common symmetry axis gives 0);
- wirelength: total HPWL, the critical nets' sum and largest, the pair's common-source net, the pair's two drain
  nets (sum and absolute difference: asymmetric loads);
- per subcircuit (paper Sec. III-B's five): bounding-box width, height and its centre's offset from the layout's;
- well proximity: each input device's gap to the nearest transistor of the other type (an NMOS input's nearest
  n-well, a PMOS input's nearest p-type region), the smaller gap and the two inputs' difference; likewise the gap
  to the layout edge;
- the bounding box's aspect ratio and how much of it devices fill.

`GbmBaseline` trains scikit-learn's HistGradientBoostingClassifier on these (class-weighted, early stopping on
a held-out 10%), and `finetune` adapts it to a few labelled layouts of a new design: a small boosted model on the
few layouts with the pretrained model's logit as one more input (stacking), ties broken by the pretrained score.
Torch-free; scikit-learn comes with the ``train`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from placeq.batch import PlacementBatch
from placeq.domain import SUBCIRCUITS, Circuit, DeviceKind
from placeq.errors import InputError


def _names() -> list[str]:
    names = [
        "side", "aspect", "fill",
        "pair_dx", "pair_dy", "pair_dist", "pair_tail_dx", "pair_tail_dy", "pair_tail_asym",
        "match_dx_mean", "match_dx_max", "match_dy_mean", "match_dy_max", "match_axis_spread",
        "hpwl_total", "hpwl_critical", "hpwl_critical_max", "hpwl_source", "hpwl_drains", "hpwl_drain_asym",
        "well_gap_min", "well_gap_asym", "edge_gap_min", "edge_gap_asym",
    ]
    for s in SUBCIRCUITS:
        names += [f"{s.value}_w", f"{s.value}_h", f"{s.value}_dx", f"{s.value}_dy"]
    return names


FEATURE_NAMES: tuple[str, ...] = tuple(_names())


def net_hpwl(batch: PlacementBatch) -> np.ndarray:
    """(B, M) half-perimeter wirelength of each net in `batch.nets` order (pin centres; 0 for nets with < 2 pins)."""
    centre = 0.5 * (batch.pin_boxes[..., :2] + batch.pin_boxes[..., 2:])  # (B, P, 2)
    out = np.zeros((len(batch), len(batch.nets)))
    net = np.asarray(batch.pin_net)
    for m in range(len(batch.nets)):
        pins = np.flatnonzero(net == m)
        if len(pins) > 1:
            pts = centre[:, pins]
            out[:, m] = (pts.max(axis=1) - pts.min(axis=1)).sum(axis=-1)
    return out


def _gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Edge-to-edge distance between rectangles (x0, y0, x1, y1): a (B, 4) against b (B, K, 4) -> (B, K)."""
    gx = np.maximum(0.0, np.maximum(a[:, None, 0] - b[..., 2], b[..., 0] - a[:, None, 2]))
    gy = np.maximum(0.0, np.maximum(a[:, None, 1] - b[..., 3], b[..., 1] - a[:, None, 3]))
    return np.asarray(np.hypot(gx, gy))


def input_pair(circuit: Circuit) -> tuple[str, str]:
    """Names of the two input transistors: the devices gated by the testbench's input nets."""
    tb = circuit.testbench
    if tb is None:
        raise InputError("circuit", f"{circuit.name} has no testbench: its input pair is unknown")
    found = []
    for net in tb.inputs:
        dev = next((d for d in circuit.devices if d.is_mos and d.terminals.get("G") == net), None)
        if dev is None:
            raise InputError("circuit", f"{circuit.name}: no transistor gated by input {net}")
        found.append(dev.name)
    return found[0], found[1]


def placement_features(batch: PlacementBatch, circuit: Circuit) -> np.ndarray:
    """(B, len(FEATURE_NAMES)) float64 geometric features of each placement of `circuit`."""
    index = {n: i for i, n in enumerate(batch.device_names)}
    by_name = {d.name: d for d in circuit.devices}
    bx = batch.boxes
    rect = np.concatenate([bx[..., :2], bx[..., :2] + bx[..., 2:]], axis=-1)  # (B, N, 4) x0, y0, x1, y1
    centre = bx[..., :2] + 0.5 * bx[..., 2:]  # (B, N, 2)
    pins = batch.pin_boxes
    lo = np.minimum(rect[..., :2].min(axis=1), pins[..., :2].min(axis=1))  # (B, 2)
    hi = np.maximum(rect[..., 2:].max(axis=1), pins[..., 2:].max(axis=1))
    size = hi - lo
    side = size.max(axis=1)  # (B,)
    s = side[:, None]
    cols: list[np.ndarray] = [side, size[:, 0] / np.maximum(size[:, 1], 1e-12),
                              (bx[..., 2] * bx[..., 3]).sum(axis=1) / np.maximum(size.prod(axis=1), 1e-12)]

    a_name, b_name = input_pair(circuit)
    a, b = index[a_name], index[b_name]
    ca, cb = centre[:, a], centre[:, b]
    src_net = by_name[a_name].terminals.get("S")
    tail = next((d.name for d in circuit.devices if d.is_mos and d.name not in (a_name, b_name)
                 and src_net is not None and src_net in (d.terminals.get("D"), d.terminals.get("S"))), None)
    ct = centre[:, index[tail]] if tail is not None else 0.5 * (ca + cb)
    mid = 0.5 * (ca + cb)
    cols += [np.abs(ca[:, 0] - cb[:, 0]) / side, np.abs(ca[:, 1] - cb[:, 1]) / side,
             np.hypot(*(ca - cb).T) / side, np.abs(mid[:, 0] - ct[:, 0]) / side, np.abs(mid[:, 1] - ct[:, 1]) / side,
             np.abs(np.hypot(*(ca - ct).T) - np.hypot(*(cb - ct).T)) / side]

    pairs = [(index[p], index[q]) for p, q in circuit.symmetry_pairs if p in index and q in index]
    if pairs:
        p_i, q_i = np.array(pairs).T
        d = np.abs(centre[:, p_i] - centre[:, q_i]) / s[..., None]  # (B, K, 2)
        axis = 0.5 * (centre[:, p_i, 0] + centre[:, q_i, 0]) / s  # (B, K)
        cols += [d[..., 0].mean(axis=1), d[..., 0].max(axis=1), d[..., 1].mean(axis=1), d[..., 1].max(axis=1),
                 axis.std(axis=1)]
    else:
        cols += [np.zeros(len(batch))] * 5

    wl = net_hpwl(batch) / s  # (B, M)
    net_ix = {n: i for i, n in enumerate(batch.nets)}
    crit = [net_ix[n] for n in circuit.critical_nets if n in net_ix]
    zero = np.zeros(len(batch))

    def net(n: str | None) -> np.ndarray:
        return wl[:, net_ix[n]] if n is not None and n in net_ix else zero

    da, db = net(by_name[a_name].terminals.get("D")), net(by_name[b_name].terminals.get("D"))
    cols += [wl.sum(axis=1), wl[:, crit].sum(axis=1) if crit else zero, wl[:, crit].max(axis=1) if crit else zero,
             net(src_net), da + db, np.abs(da - db)]

    in_kind = by_name[a_name].kind
    other = [i for i, k in enumerate(batch.kinds)
             if k in (DeviceKind.NMOS, DeviceKind.PMOS) and k != in_kind]
    if other:
        ga = _gap(rect[:, a], rect[:, other]).min(axis=1) / side
        gb = _gap(rect[:, b], rect[:, other]).min(axis=1) / side
    else:
        ga = gb = np.ones(len(batch))
    cols += [np.minimum(ga, gb), np.abs(ga - gb)]

    def edge(i: int) -> np.ndarray:
        r = rect[:, i]
        gaps = np.stack([r[:, 0] - lo[:, 0], r[:, 1] - lo[:, 1], hi[:, 0] - r[:, 2], hi[:, 1] - r[:, 3]])
        out: np.ndarray = gaps.min(axis=0) / side
        return out

    ea, eb = edge(a), edge(b)
    cols += [np.minimum(ea, eb), np.abs(ea - eb)]

    mask = batch.tag_mask  # (N, 5)
    layout_c = 0.5 * (lo + hi)
    for g in range(len(SUBCIRCUITS)):
        members = np.flatnonzero(mask[:, g])
        if len(members) == 0:
            cols += [zero] * 4
            continue
        g_lo, g_hi = rect[:, members, :2].min(axis=1), rect[:, members, 2:].max(axis=1)
        off = (0.5 * (g_lo + g_hi) - layout_c) / s
        cols += [(g_hi[:, 0] - g_lo[:, 0]) / side, (g_hi[:, 1] - g_lo[:, 1]) / side, off[:, 0], off[:, 1]]
    out = np.stack(cols, axis=1).astype(np.float64)
    if out.shape[1] != len(FEATURE_NAMES):
        raise AssertionError(f"{out.shape[1]} features computed, {len(FEATURE_NAMES)} named")
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    out: np.ndarray = np.log(q / (1 - q))
    return out


@dataclass
class GbmBaseline:
    """HistGradientBoosting on `placement_features`; `score` is larger = predicted worse (prune first)."""

    model: Any
    seed: int = 0

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, *, seed: int = 0, threads: int = 1, max_iter: int = 300) -> GbmBaseline:
        """Train on labelled rows (y 0/1; -1 rows are left out), class-weighted, early stopping on 10%."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        used = np.asarray(y) >= 0
        xs, ys = np.asarray(x)[used], np.asarray(y)[used]
        if len(np.unique(ys)) < 2:
            raise InputError("labels", "the gradient-boosted baseline needs good and bad examples")
        model = HistGradientBoostingClassifier(
            max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0,
            early_stopping=len(ys) >= 200, validation_fraction=0.1, n_iter_no_change=20,
            class_weight="balanced", random_state=seed,
        )
        with threadpool_limits(threads):
            model.fit(xs, ys)
        return cls(model=model, seed=seed)

    def score(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """(N,) probability of the worst quartile."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads):
            return np.asarray(self.model.predict_proba(np.asarray(x))[:, 1], dtype=np.float64)

    def finetune(self, x: np.ndarray, y: np.ndarray, *, threads: int = 1) -> FinetunedGbm:
        """A small boosted model on a few labelled layouts of a new design, stacked on this one's logit."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        ys = np.asarray(y)
        if len(np.unique(ys)) < 2:
            raise InputError("labels", "few-shot labels need good and bad examples")
        few = len(ys) < 64
        head = HistGradientBoostingClassifier(
            max_iter=25 if few else 100, learning_rate=0.1, max_depth=2, min_samples_leaf=2 if few else 5,
            l2_regularization=1.0, early_stopping=False, class_weight="balanced", random_state=self.seed,
        )
        with threadpool_limits(threads):
            head.fit(self._stack(x, threads), ys)
        return FinetunedGbm(base=self, head=head)

    def _stack(self, x: np.ndarray, threads: int) -> np.ndarray:
        return np.column_stack([np.asarray(x), _logit(self.score(x, threads))])


@dataclass
class FinetunedGbm:
    base: GbmBaseline
    head: Any

    def score(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """(N,) head probability; ties (a few-shot tree gives few distinct values) broken by the base's score."""
        from threadpoolctl import threadpool_limits

        base = self.base.score(x, threads)
        with threadpool_limits(threads):
            p = np.asarray(self.head.predict_proba(np.column_stack([np.asarray(x), _logit(base)]))[:, 1])
        return np.asarray(p + 1e-6 * base, dtype=np.float64)


def stack_features(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Row-concatenate per-design feature matrices."""
    return np.concatenate(list(parts), axis=0) if parts else np.zeros((0, len(FEATURE_NAMES)))
