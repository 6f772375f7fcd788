"""A circuit flattened once into the index arrays that every cost term, the legalizer and the writer share.

As in DREAMPlace, the netlist is stored once as flat arrays (pin -> device, pin -> net, pin offsets) and each
term only gathers from them; the batch axis (one row per net-weight vector) exists only on positions and weights.
Device sizes are also kept in integer grid units so that the legalizer can mirror pairs exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placeq.domain import Circuit, DeviceKind, Subcircuit
from placeq.errors import InputError
from placeq.footprint import footprint
from training.placer.config import PlacerConfig
from training.placer.io_pins import POWER_NET, IoPins, io_pins, outline_positions


@dataclass(frozen=True)
class PlacementProblem:
    """Everything about one design the placer needs, as arrays (N devices, P pins, M nets, K pairs, S self)."""

    design: str
    device_names: tuple[str, ...]  # (N,)
    kinds: tuple[DeviceKind, ...]  # (N,)
    tags: tuple[tuple[Subcircuit, ...], ...]  # (N,)
    size: np.ndarray  # (N, 2) float64 w, h in um
    size_grid: np.ndarray  # (N, 2) int64 w, h in grid units (even numbers)
    pin_device: np.ndarray  # (P,) int64
    pin_terminal: tuple[str, ...]  # (P,)
    pin_net: np.ndarray  # (P,) int64
    pin_local: np.ndarray  # (P, 4) float64 x0, y0, x1, y1 relative to the device's lower-left corner
    pin_offset: np.ndarray  # (P, 2) float64 pin centre relative to the device centre
    wl_pin: np.ndarray  # (P,) bool: pin counts in the wirelength
    io: IoPins  # I ports as fixed pins on the outline (placer-internal; counted in the wirelength)
    io_xy: np.ndarray  # (I, 2) float64 IO pin positions (um) on the global-placement outline
    nets: tuple[str, ...]  # (M,)
    net_weight: np.ndarray  # (M,) float64 base weight per net (0 for nets with < 2 wirelength pins, IO included)
    critical: np.ndarray  # (k,) int64 net indices of the critical nets
    pairs: np.ndarray  # (K, 2) int64 matched device pairs
    self_sym: np.ndarray  # (S,) int64 self-symmetric devices
    outline: tuple[float, float]  # target (W, H) in um: area * (1 + white space) at the aspect ratio
    grid_um: float
    spacing_grid: int  # minimum spacing in grid units
    critical_weight: float

    @property
    def n_devices(self) -> int:
        return len(self.device_names)

    @property
    def side(self) -> float:
        """Mean outline side (um): the length scale of steps and smoothing."""
        return 0.5 * (self.outline[0] + self.outline[1])

    def weights(self, subsets: np.ndarray) -> np.ndarray:
        """(B, k) bool subsets of the critical nets -> (B, M) net weights (raised nets at critical_weight)."""
        subsets = np.asarray(subsets, dtype=bool)
        if subsets.ndim != 2 or subsets.shape[1] != len(self.critical):
            raise InputError("subsets", f"expected shape (B, {len(self.critical)}), got {subsets.shape}")
        w = np.broadcast_to(self.net_weight, (len(subsets), len(self.nets))).copy()
        raised = np.where(self.net_weight[self.critical] > 0, self.critical_weight, 0.0)  # (k,)
        w[:, self.critical] = np.where(subsets, raised, w[:, self.critical])
        return w

    @classmethod
    def from_circuit(cls, circuit: Circuit, config: PlacerConfig) -> PlacementProblem:
        names = [d.name for d in circuit.devices]
        index = {n: i for i, n in enumerate(names)}
        nets = tuple(circuit.nets())
        net_index = {n: i for i, n in enumerate(nets)}
        grid = config.grid_um
        sizes, sizes_g = [], []
        pin_device, pin_terminal, pin_net, pin_local = [], [], [], []
        for i, dev in enumerate(circuit.devices):
            fp = footprint(dev)
            g = np.round(np.array([fp.w, fp.h]) / (2 * grid)).astype(np.int64) * 2
            sizes_g.append(g)
            sizes.append(np.round(g * grid, 6))  # 68 * 0.05 is 3.4000000000000004; round to the decimal
            for term, net in dev.terminals.items():
                pin_device.append(i)
                pin_terminal.append(term)
                pin_net.append(net_index[net])
                pin_local.append(fp.pins[term])
        size = np.array(sizes, dtype=np.float64)
        p_dev = np.array(pin_device, dtype=np.int64)
        local = np.array(pin_local, dtype=np.float64).reshape(-1, 4)
        offset = (local[:, :2] + local[:, 2:]) / 2 - size[p_dev] / 2  # (P, 2)
        wl_pin = np.array([config.include_bulk_pins or t != "B" for t in pin_terminal], dtype=bool)
        p_net = np.array(pin_net, dtype=np.int64)
        supplies = set(circuit.testbench.supplies) if circuit.testbench is not None else set()
        power = np.array([n in supplies or POWER_NET.match(n) is not None for n in nets], dtype=bool)
        weight = np.where(power, config.power_net_weight, 1.0) * config.base_weight  # (M,)
        io = io_pins(circuit) if config.io_pins else IoPins.none()
        counts = np.bincount(p_net[wl_pin], minlength=len(nets)) + np.bincount(io.net, minlength=len(nets))
        weight[counts < 2] = 0.0
        pairs = np.array([(index[a], index[b]) for a, b in circuit.symmetry_pairs], dtype=np.int64).reshape(-1, 2)
        for k, (a, b) in enumerate(pairs):
            if not np.array_equal(sizes_g[a], sizes_g[b]):
                raise InputError(
                    f"symmetry_pairs[{k}]", f"{names[a]} and {names[b]} have different footprints; cannot mirror them"
                )
        area = float((size[:, 0] * size[:, 1]).sum()) * (1.0 + config.white_space)
        width = float(np.sqrt(area / config.aspect_ratio))
        outline = (width, width * config.aspect_ratio)
        return cls(
            design=circuit.name,
            device_names=tuple(names),
            kinds=tuple(d.kind for d in circuit.devices),
            tags=tuple(d.tags for d in circuit.devices),
            size=size,
            size_grid=np.array(sizes_g, dtype=np.int64),
            pin_device=p_dev,
            pin_terminal=tuple(pin_terminal),
            pin_net=p_net,
            pin_local=local,
            pin_offset=offset,
            wl_pin=wl_pin,
            io=io,
            io_xy=outline_positions(io, outline),
            nets=nets,
            net_weight=weight,
            critical=np.array([net_index[n] for n in circuit.critical_nets], dtype=np.int64),
            pairs=pairs,
            self_sym=np.array([index[n] for n in circuit.self_symmetric], dtype=np.int64),
            outline=outline,
            grid_um=grid,
            spacing_grid=round(config.spacing_um / grid),
            critical_weight=config.critical_weight,
        )
