"""What a netlist means, read from its graph: supplies, the input pair, symmetry, subcircuit tags, critical nets.

The paper's features need every device tagged with its subcircuit (Sec. III-B: first stage, other stages,
feedback, CMFB, bias) and its placer needs matched pairs and critical nets; UT-AnLay's authors wrote these by
hand. `infer` derives them from the topology, the way an analog designer reads a schematic:

- **Supplies**: nets named like supplies (`placeq.ports`: vdd, vcc, avdd / vss, gnd, 0, vee), those a testbench
  or an ALIGN ``PowerPorts``/``GroundPorts`` constraint names, else the nets most PMOS (NMOS) bulks sit on.
- **Resistor-like MOSFETs**: a MOSFET whose gate sits on the supply that turns it fully on (a PMOS gate on
  ground, an NMOS gate on power) is a resistor in the layout's signal sense (Miller nulling resistors).
- **Input pair**: two MOSFETs of one kind and size whose sources share a non-supply net (the tail) and whose
  gates and drains differ; gates on ports named like inputs (vin/vip/inp/inm, ...) win.
- **Symmetry**: from the input pair outward, nets pair with nets (gate with gate, drain with drain) and a device
  pairs with one of its kind and size whose terminals sit on the mirrored nets; a device whose terminals map
  onto themselves is self-symmetric (the tail source).
- **Stages**: devices that conduct into one another (MOSFET drain-source channels, not through supplies, not
  through passives or gates) form a stage. The input pair's is the first stage; a stage whose devices are gated
  by an earlier stage's outputs is the next, unless its outputs drive gates of an earlier stage (it closes a
  loop: CMFB). Passives: a capacitor between signal nets, and a resistor in series with it, is feedback
  (compensation); equal passives from both nets of a mirrored pair to one node sense the common mode (CMFB);
  a passive inside one stage belongs to it. What is left is bias.
- **Critical nets**: the signal-path nets, first stage first, then later stages, then compensation nodes, then
  CMFB nets: the paper's 14 were the signal-path nets of each OTA.
Every inference is returned with a reason, and the caller stores it with provenance "inferred".
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from placeq.domain import Circuit, Device, DeviceKind, Subcircuit
from placeq.ports import is_input, supply_level

_MOS = (DeviceKind.NMOS, DeviceKind.PMOS)
DEFAULT_CRITICAL = 14  # the paper's count: 2^14 = 16,384 placements per design space


@dataclass
class Topology:
    """What `infer` found, with one line of reason per finding (printed on import)."""

    power: tuple[str, ...] = ()
    ground: tuple[str, ...] = ()
    input_pair: tuple[str, str] | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    self_symmetric: list[str] = field(default_factory=list)
    tags: dict[str, tuple[Subcircuit, ...]] = field(default_factory=dict)
    critical_nets: list[str] = field(default_factory=list)  # ranked, best first
    reasons: list[str] = field(default_factory=list)

    @property
    def supplies(self) -> set[str]:
        return {*self.power, *self.ground}


def _size(d: Device) -> tuple[object, ...]:
    return (d.kind, d.w, d.l, d.nf, d.nfin, d.m, d.value)


def find_supplies(
    circuit: Circuit, power: Iterable[str] = (), ground: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """(power nets, ground nets): given ones, then names, then the nets most PMOS / NMOS bulks sit on."""
    nets = circuit.nets()
    pwr = [n for n in nets if n in set(power) or supply_level(n) == "high"]
    gnd = [n for n in nets if n in set(ground) or supply_level(n) == "low"]
    for kind, out in ((DeviceKind.PMOS, pwr), (DeviceKind.NMOS, gnd)):
        bulks = Counter(d.terminals.get("B") for d in circuit.devices if d.kind is kind and "B" in d.terminals)
        if bulks and not out:
            out.append(str(bulks.most_common(1)[0][0]))
    return pwr, gnd


def _resistor_like(d: Device, power: set[str], ground: set[str]) -> bool:
    g = d.terminals.get("G")
    return (d.kind is DeviceKind.PMOS and g in ground) or (d.kind is DeviceKind.NMOS and g in power)


def find_input_pair(circuit: Circuit, supplies: set[str], inputs: Iterable[str] = ()) -> tuple[Device, Device] | None:
    """The differential input pair (see the module docstring), or None for a circuit without one."""
    wanted = set(inputs)
    ports = set(circuit.ports)
    mos = [d for d in circuit.devices if d.kind in _MOS]
    candidates: list[tuple[tuple[int, float], tuple[Device, Device]]] = []
    for i, a in enumerate(mos):
        for b in mos[i + 1:]:
            ta, tb = a.terminals, b.terminals
            if _size(a) != _size(b) or ta["S"] != tb["S"] or ta["S"] in supplies:
                continue
            if ta["G"] == tb["G"] or ta["D"] == tb["D"] or ta["G"] in supplies or tb["G"] in supplies:
                continue
            if ta["G"] == ta["D"] or tb["G"] == tb["D"]:
                continue  # diode-connected: a load, not an input
            gates = {ta["G"], tb["G"]}
            score = 10 * len(gates & wanted) + 3 * sum(is_input(g) for g in gates) + len(gates & ports)
            area = (a.w or 0.0) * (a.l or 0.0) * a.m  # ties: input pairs are drawn large, for matching
            candidates.append(((score, area), (a, b)))
    if not candidates:
        return None
    top = max(c[0][0] for c in candidates)
    graph = _Graph(circuit, supplies, set())

    def rank(c: tuple[tuple[int, float], tuple[Device, Device]]) -> tuple[bool, float]:
        # A first stage drives the gates of a next one; a feed-forward pair on the same inputs drives the output.
        stage = graph.component(c[1], set())
        names = {d.name for d in stage}
        feeds = any(e.name not in names for n in _outputs(stage, supplies) for e in graph.gated.get(n, []))
        return feeds, c[0][1]

    return max((c for c in candidates if c[0][0] == top), key=rank)[1]


def find_symmetry(circuit: Circuit, pair: tuple[Device, Device], supplies: set[str]) -> tuple[list[tuple[str, str]],
                                                                                             list[str]]:
    """Matched pairs and self-symmetric devices, grown from the input pair over mirrored nets; when growth stops,
    another differential pair among the devices left (a CMFB amplifier's) seeds it again."""
    mirror: dict[str, str] = {n: n for n in supplies}
    pairs: list[tuple[str, str]] = []
    selfs: list[str] = []
    placed: set[str] = set()
    seed: tuple[Device, Device] | None = pair
    while seed is not None:
        a, b = seed
        for t in a.terminals:
            na, nb = a.terminals[t], b.terminals[t]
            if na not in mirror and nb not in mirror:
                mirror[na], mirror[nb] = nb, na
            elif na == nb:
                mirror.setdefault(na, na)
        pairs.append((a.name, b.name))
        placed |= {a.name, b.name}
        _grow(circuit, mirror, supplies, pairs, selfs, placed)
        rest = Circuit.model_construct(devices=tuple(d for d in circuit.devices if d.name not in placed),
                                       ports=circuit.ports)
        seed = find_input_pair(rest, supplies) if rest.devices else None
    return pairs, selfs


def _grow(circuit: Circuit, mirror: dict[str, str], supplies: set[str], pairs: list[tuple[str, str]],
          selfs: list[str], placed: set[str]) -> None:
    changed = True
    while changed:
        changed = False
        for d in circuit.devices:
            if d.name in placed or not any(n in mirror and n not in supplies for n in d.terminals.values()):
                continue
            image = {t: mirror.get(n) for t, n in d.terminals.items()}
            partner = None
            for e in circuit.devices:
                if e.name in placed or e.name == d.name or _size(e) != _size(d):
                    continue
                match = next((o for o in _orientations(e) if all(
                    image[t] in (None, o.get(t)) or (t == "G" and d.terminals[t] == o.get(t))  # a shared-gate mirror
                    for t in d.terminals) and any(image[t] not in (None, d.terminals[t]) and image[t] not in supplies
                                                   for t in d.terminals)), None)
                if match is not None:
                    partner = (e, match)
                    break
            if partner is not None:
                e, match = partner
                for t, n in d.terminals.items():
                    if n not in mirror and match[t] not in mirror:
                        mirror[n], mirror[match[t]] = match[t], n
                pairs.append((d.name, e.name))
                placed |= {d.name, e.name}
                changed = True
            elif any(all(image[t] == o[t] or (image[t] is None and t in ("G", "B")) for t in o)
                     for o in _orientations(d)) and any(mirror.get(n) == n and n not in supplies
                                                        for n in d.terminals.values()):
                selfs.append(d.name)  # on the axis: every mirrored net it touches maps onto itself (a tail)
                placed.add(d.name)
                changed = True


def _orientations(d: Device) -> list[dict[str, str]]:
    """A device's terminal maps as a mirror image may see them: a passive's two ends are interchangeable."""
    t = d.terminals
    if d.kind in _MOS:
        return [dict(t)]
    return [dict(t), {**t, "PLUS": t["MINUS"], "MINUS": t["PLUS"]}]


class _Graph:
    """Channel connectivity: which active devices conduct into which nets (supplies cut the graph)."""

    def __init__(self, circuit: Circuit, supplies: set[str], passive_like: set[str]) -> None:
        self.by_net: dict[str, list[Device]] = {}
        self.active = [d for d in circuit.devices if d.kind in _MOS and d.name not in passive_like]
        for d in self.active:
            for t in ("D", "S"):
                n = d.terminals[t]
                if n not in supplies:
                    self.by_net.setdefault(n, []).append(d)
        self.gated: dict[str, list[Device]] = {}
        for d in self.active:
            self.gated.setdefault(d.terminals["G"], []).append(d)

    def component(self, seeds: Iterable[Device], taken: set[str]) -> list[Device]:
        out: list[Device] = []
        queue = deque(s for s in seeds if s.name not in taken)
        seen = {d.name for d in queue} | taken
        while queue:
            d = queue.popleft()
            out.append(d)
            for t in ("D", "S"):
                for e in self.by_net.get(d.terminals[t], []):
                    if e.name not in seen:
                        seen.add(e.name)
                        queue.append(e)
        return out


def _outputs(stage: list[Device], supplies: set[str]) -> set[str]:
    return {d.terminals["D"] for d in stage if d.terminals["D"] not in supplies}


def assign_tags(circuit: Circuit, topo: Topology, pair: tuple[Device, Device]) -> list[list[Device]]:
    """Tags in `topo.tags` for every device; returns the signal stages in order (first stage first)."""
    supplies = topo.supplies
    power, ground = set(topo.power), set(topo.ground)
    passive_like = {d.name for d in circuit.devices if d.kind in _MOS and _resistor_like(d, power, ground)}
    graph = _Graph(circuit, supplies, passive_like)
    taken: set[str] = set()
    stages: list[list[Device]] = []
    loops: list[list[Device]] = []
    frontier = [graph.component(pair, taken)]
    while frontier:
        current = frontier.pop(0)
        taken |= {d.name for d in current}
        stages.append(current)
        earlier_gates = {d.terminals["G"] for s in stages for d in s}
        for net in sorted(_outputs(current, supplies)):
            for seed in graph.gated.get(net, []):
                if seed.name in taken:
                    continue
                nxt = graph.component([seed], taken)
                taken |= {d.name for d in nxt}
                # A stage that drives an earlier stage's gates closes a loop: common-mode feedback.
                (loops if _outputs(nxt, supplies) & earlier_gates else frontier).append(nxt)
    for i, stage in enumerate(stages):
        for d in stage:
            topo.tags[d.name] = (Subcircuit.FIRST_STAGE if i == 0 else Subcircuit.OTHER_STAGE,)
    sense = _tag_passives(circuit, topo, stages, passive_like)
    signal_gates = {d.terminals["G"] for s in stages for d in s}
    signal_nets = {n for s in stages for d in s for n in (d.terminals["D"], d.terminals["S"])} - supplies
    for d in graph.active:  # what is left: a CMFB amplifier sensing the outputs (or a sense node), else bias
        if d.name in taken:
            continue
        rest = graph.component([d], taken)
        taken |= {e.name for e in rest}
        gates = {e.terminals["G"] for e in rest}
        if _outputs(rest, supplies) & signal_gates and gates & (sense | signal_nets):
            loops.append(rest)
    for d in (d for loop in loops for d in loop):
        topo.tags[d.name] = (Subcircuit.CMFB,)
    for d in circuit.devices:
        topo.tags.setdefault(d.name, (Subcircuit.BIAS,))
    return stages


def _ends(d: Device) -> tuple[str, str]:
    ts = d.terminals
    return (ts["PLUS"], ts["MINUS"]) if "PLUS" in ts else (ts["D"], ts["S"])


def _chain(seed: set[str], passives: list[Device], stage_of: dict[str, int], exclude: set[str]) -> set[str]:
    """`seed` grown over passives that share a node of their own (no stage net) with one already in it: the
    segments of a split resistor, a nulling resistor in series with its capacitor."""
    out = set(seed)
    while True:
        nodes = {n for d in passives if d.name in out for n in _ends(d) if n not in stage_of}
        new = {d.name for d in passives if d.name not in out and d.name not in exclude and set(_ends(d)) & nodes}
        if not new:
            return out
        out |= new


def _tag_passives(circuit: Circuit, topo: Topology, stages: list[list[Device]], passive_like: set[str]) -> set[str]:
    """Tag passives (and resistor-like MOSFETs); returns the common-mode sense nodes found.

    Order: equal passives from both nets of a mirrored pair into one node sense the common mode (CMFB);
    capacitors touching a signal stage are compensation (feedback), and so is every passive chained to one
    through a node of their own (nulling resistors, nested-Miller links); a passive within one stage is that
    stage's; the rest is bias."""
    supplies = topo.supplies
    stage_of: dict[str, int] = {}
    for i, stage in enumerate(stages):
        for d in stage:
            for t in ("D", "S"):
                stage_of.setdefault(d.terminals[t], i)
    stage_of = {n: i for n, i in stage_of.items() if n not in supplies}
    passives = [d for d in circuit.devices if (d.kind not in _MOS or d.name in passive_like)
                and not set(_ends(d)) & supplies]
    mirror = {a: b for x, y in topo.pairs for a, b in ((x, y), (y, x))}
    by_name = {d.name: d for d in circuit.devices}
    sense: set[str] = set()
    for d in passives:
        twin = by_name.get(mirror.get(d.name, ""))
        if twin is None:
            continue
        common = set(_ends(d)) & set(_ends(twin))
        if len(common) == 1 and (node := common.pop()) not in stage_of:
            topo.tags[d.name] = (Subcircuit.CMFB,)  # both sides of a pair into one node: common-mode sense
            sense.add(node)
    sense_caps = _chain({d.name for d in passives if d.name in topo.tags}, passives, stage_of, set())
    for name in sense_caps:
        topo.tags[name] = (Subcircuit.CMFB,)
    feedback = _chain({d.name for d in passives if d.name not in sense_caps and d.kind is DeviceKind.CAP
                       and any(n in stage_of for n in _ends(d))}, passives, stage_of, sense_caps)
    for d in passives:
        if d.name in sense_caps:
            continue
        if d.name in feedback:
            topo.tags[d.name] = (Subcircuit.FEEDBACK,)
            continue
        x, y = (stage_of.get(n) for n in _ends(d))
        if x is not None and x == y:
            topo.tags[d.name] = (Subcircuit.FIRST_STAGE if x == 0 else Subcircuit.OTHER_STAGE,)
        elif x is not None and y is not None:
            topo.tags[d.name] = (Subcircuit.FEEDBACK,)  # between two stages: a compensation or feedback element
    return sense


def rank_critical_nets(circuit: Circuit, topo: Topology, stages: list[list[Device]]) -> list[str]:
    """Signal-path nets, best first: the first stage's (inputs, tail, cascode nodes, outputs), the later stages',
    compensation nodes, then CMFB nets; within a group by distance from the input pair. A circuit with fewer
    than DEFAULT_CRITICAL of those adds its other non-supply nets last."""
    supplies = topo.supplies
    order: list[str] = []

    def add(nets: Iterable[str]) -> None:
        for n in nets:
            if n not in supplies and n not in order:
                order.append(n)

    for s in stages:
        add(d.terminals["G"] for d in s if topo.input_pair and d.name in topo.input_pair)
        add(t for d in s for t in (d.terminals["S"], d.terminals["D"]))
    for tag in (Subcircuit.FEEDBACK, Subcircuit.CMFB):
        add(n for d in circuit.devices if tag in topo.tags.get(d.name, ()) for n in d.terminals.values())
    if len(order) < DEFAULT_CRITICAL:  # a small circuit: its bias nets widen a design space of few layouts
        add(n for d in circuit.devices for n in d.terminals.values())
    return order


def infer(circuit: Circuit, *, power: Iterable[str] = (), ground: Iterable[str] = (),
          inputs: Iterable[str] = ()) -> Topology:
    """Supplies, input pair, symmetry, tags and ranked critical nets of `circuit` (see the module docstring)."""
    pwr, gnd = find_supplies(circuit, power, ground)
    topo = Topology(power=tuple(pwr), ground=tuple(gnd))
    topo.reasons.append(f"supplies: power {', '.join(pwr) or '-'}; ground {', '.join(gnd) or '-'}")
    pair = find_input_pair(circuit, topo.supplies, inputs)
    if pair is None:
        topo.reasons.append("no differential input pair found: every device tagged bias; give tags (--channels)")
        topo.tags = {d.name: (Subcircuit.BIAS,) for d in circuit.devices}
        return topo
    a, b = pair
    topo.input_pair = (a.name, b.name)
    topo.reasons.append(f"input pair: {a.name} / {b.name} (gates {a.terminals['G']}, {b.terminals['G']}; "
                        f"tail {a.terminals['S']})")
    topo.pairs, topo.self_symmetric = find_symmetry(circuit, pair, topo.supplies)
    topo.reasons.append(f"symmetry: {len(topo.pairs)} pair(s), {len(topo.self_symmetric)} self-symmetric")
    stages = assign_tags(circuit, topo, pair)
    # Bias devices stay off the axis: a diode-connected mirror touching a shared gate net is not a tail.
    topo.self_symmetric = [d for d in topo.self_symmetric if topo.tags.get(d) != (Subcircuit.BIAS,)]
    counts = Counter(t.value for tags in topo.tags.values() for t in tags)
    topo.reasons.append(f"stages: {len(stages)} signal stage(s); tags " +
                        ", ".join(f"{s.value} {counts[s.value]}" for s in Subcircuit if counts[s.value]))
    topo.critical_nets = rank_critical_nets(circuit, topo, stages)
    return topo


def understand(
    circuit: Circuit,
    *,
    critical: int | list[str] | None = None,
    power: Iterable[str] = (),
    ground: Iterable[str] = (),
) -> tuple[Circuit, list[str]]:
    """`circuit` with what its files did not give filled in from `infer`, each part's provenance recorded, and
    the notes that say what was inferred (or why not).

    Tags, symmetry and critical nets that were given (provenance "given", or critical nets already set) are
    kept; an inferred pair the constraint file lacks is reported, not added. `critical`: how many of the ranked
    nets (default min(14, all)), or the nets themselves (checked against the circuit).
    """
    inputs = circuit.testbench.inputs if circuit.testbench else ()
    topo = infer(circuit, power=power, ground=ground, inputs=inputs)
    notes = list(topo.reasons)
    update: dict[str, object] = {}
    provenance = dict(circuit.provenance)
    if provenance.get("tags") != "given" and not any(d.tags for d in circuit.devices):
        update["devices"] = tuple(d.model_copy(update={"tags": topo.tags[d.name]}) for d in circuit.devices)
        provenance["tags"] = "inferred"
    if provenance.get("symmetry") == "given" or circuit.symmetry_pairs or circuit.self_symmetric:
        given = {frozenset(p) for p in circuit.symmetry_pairs}
        extra = [f"{a}/{b}" for a, b in topo.pairs if frozenset((a, b)) not in given]
        if extra:
            shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
            notes.append(f"symmetry: kept the given constraints; the topology also matches {shown}")
    elif topo.pairs:
        update.update(symmetry_pairs=tuple(topo.pairs), self_symmetric=tuple(topo.self_symmetric))
        provenance["symmetry"] = "inferred"
    if isinstance(critical, list):
        unknown = [n for n in critical if n not in circuit.nets()]
        if unknown:
            from placeq.errors import InputError

            raise InputError("critical_nets", f"nets {unknown} are not in {circuit.name}")
        update["critical_nets"] = tuple(critical)
        provenance["critical_nets"] = "given"
    elif critical is not None or not circuit.critical_nets:
        count = DEFAULT_CRITICAL if critical is None else critical
        chosen = topo.critical_nets[:count]
        update["critical_nets"] = tuple(chosen)
        provenance["critical_nets"] = "inferred"
        notes.append(f"critical nets ({len(chosen)} of {len(topo.critical_nets)} signal-path nets, "
                     f"2^{len(chosen)} = {2 ** len(chosen):,} placements): {', '.join(chosen) or '-'}")
    if not update.get("critical_nets", circuit.critical_nets):
        notes.append("no critical nets: `placeq place` can make one placement only; give --critical-nets NET,...")
    update["provenance"] = provenance
    return Circuit.model_validate({**circuit.model_dump(), **update}), notes
