"""Register circuits (JSON, or SPICE/Spectre netlists with UT-AnLay sidecars) and list them."""

from __future__ import annotations

from fastapi import APIRouter, status

from model_store import DesignRecord
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit, Subcircuit
from placeq.errors import InputError
from service.api.auth import ADMIN, PREDICT
from service.api.deps import RuntimeDep, StoreDep
from service.api.errors import BODY_TOO_LARGE
from service.api.gate import GatedRoute
from service.api.resolve import get_circuit
from service.api.schemas import DesignIn, DesignOut, DesignPath

router = APIRouter(tags=["designs"], route_class=GatedRoute)


def _out(circuit: Circuit, source: str, sha256: str, notes: list[str] | None = None) -> DesignOut:
    return DesignOut(
        name=circuit.name,
        devices=len(circuit.devices),
        nets=len(circuit.nets()),
        critical_nets=list(circuit.critical_nets),
        metric=circuit.testbench.metric if circuit.testbench else None,
        source=source,
        sha256=sha256,
        tagged=sum(1 for d in circuit.devices if d.tags),
        symmetry_pairs=len(circuit.symmetry_pairs),
        provenance={str(k): str(v) for k, v in circuit.provenance.items()},
        notes=notes or [],
    )


def _from_record(r: DesignRecord) -> DesignOut:
    return _out(Circuit.model_validate(r.circuit), r.source, r.sha256)


def circuit_of(body: DesignIn, max_netlist_bytes: int) -> tuple[Circuit, list[str]]:
    """The circuit a request describes, completed as `placeq import-netlist` completes it, and the notes."""
    from placeq.onboarding import complete

    notes: list[str] = []
    circuit = body.circuit if body.circuit is not None else _parse(body, max_netlist_bytes, notes)
    extra = {k: v for k in ("symmetry_pairs", "self_symmetric", "critical_nets") if (v := getattr(body, k)) is not None}
    if extra:
        given = {"symmetry": "given"} if "symmetry_pairs" in extra or "self_symmetric" in extra else {}
        if "critical_nets" in extra:
            given["critical_nets"] = "given"
        circuit = Circuit.model_validate({**circuit.model_dump(), **extra,
                                          "provenance": {**circuit.provenance, **given}})
    if body.testbench is not None and not body.infer:
        circuit = circuit.model_copy(update={"testbench": body.testbench,
                                             "provenance": {**circuit.provenance, "testbench": "given"}})
    if body.infer:
        circuit, inferred = complete(circuit, testbench=body.testbench)
        notes += inferred
    return circuit, notes


def _parse(body: DesignIn, max_netlist_bytes: int, notes: list[str]) -> Circuit:
    from placeq.formats import parse_netlist

    text = body.netlist or ""
    if (size := len(text.encode())) > max_netlist_bytes:
        raise InputError("netlist", f"{size} bytes exceeds the limit of {max_netlist_bytes} bytes "
                                    "(PLACEQ_MAX_NETLIST_BYTES)")
    order = list(Subcircuit)  # UT-AnLay channel k is order[k - 1]
    bad = [(d, c) for d, cs in (body.channels or {}).items() for c in cs if not 1 <= c <= len(order)]
    if bad:
        raise InputError(f"channels.{bad[0][0]}", f"channel {bad[0][1]} is not in 1..{len(order)}")
    channels = {d: tuple(order[c - 1] for c in cs) for d, cs in (body.channels or {}).items()} or None
    return parse_netlist(text, source="netlist", name=body.name, types=body.types, channels=channels,
                         params=body.params, keep=body.keep or (), drop=body.drop or (), notes=notes)


@router.post("/designs", status_code=status.HTTP_201_CREATED, response_model=DesignOut, dependencies=[ADMIN],
             responses={422: {"description": "Invalid circuit or netlist: the body names the field or line "
                                             "(a netlist over PLACEQ_MAX_NETLIST_BYTES names `netlist`)"},
                        **BODY_TOO_LARGE})
def register(body: DesignIn, runtime: RuntimeDep) -> DesignOut:
    """Register (or replace) a design so /label and /finetune can use it. What the request does not give (tags,
    symmetry, critical nets, a testbench) is inferred from the topology, as `placeq import-netlist` does, and the
    answer says what was inferred (`provenance`, `notes`)."""
    circuit, notes = circuit_of(body, runtime.settings.max_netlist_bytes)
    record = runtime.store.register_design(circuit, source="json" if body.circuit is not None else "netlist")
    return _out(Circuit.model_validate(record.circuit), record.source, record.sha256, notes)


@router.get("/designs", response_model=list[DesignOut], dependencies=[PREDICT])
def list_designs(store: StoreDep) -> list[DesignOut]:
    """Registered designs, then the built-in ones not overridden."""
    out = [_from_record(r) for r in store.list_designs()]
    names = {d.name for d in out}
    out += [_out(load_design(n), "builtin", "") for n in BUILTIN_DESIGNS if n not in names]
    return out


@router.get("/designs/{name}", response_model=Circuit, responses={404: {"description": "Unknown design"}},
            dependencies=[PREDICT])
def get_design(name: DesignPath, store: StoreDep) -> Circuit:
    return get_circuit(store, name)
