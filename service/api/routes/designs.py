"""Register circuits (JSON, or SPICE/Spectre netlists with UT-AnLay sidecars) and list them."""

from __future__ import annotations

from fastapi import APIRouter, status

from model_store import DesignRecord
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit, DeviceKind, Subcircuit
from placeq.errors import InputError, UnknownDesign
from service.api.auth import ADMIN, PREDICT
from service.api.deps import StoreDep
from service.api.schemas import DesignIn, DesignOut

router = APIRouter(tags=["designs"])


def _out(circuit: Circuit, source: str, sha256: str) -> DesignOut:
    return DesignOut(
        name=circuit.name,
        devices=len(circuit.devices),
        nets=len(circuit.nets()),
        critical_nets=list(circuit.critical_nets),
        metric=circuit.testbench.metric if circuit.testbench else None,
        source=source,
        sha256=sha256,
    )


def _from_record(r: DesignRecord) -> DesignOut:
    return _out(Circuit.model_validate(r.circuit), r.source, r.sha256)


def circuit_of(body: DesignIn) -> Circuit:
    if body.circuit is not None:
        return body.circuit
    from placeq.formats import parse_netlist

    types = channels = None
    if body.types is not None:
        try:
            types = {d: DeviceKind(k) for d, k in body.types.items()}
        except ValueError as exc:
            raise InputError("types", str(exc)) from exc
    if body.channels is not None:
        order = list(Subcircuit)
        bad = [(d, c) for d, cs in body.channels.items() for c in cs if not 1 <= c <= len(order)]
        if bad:
            raise InputError(f"channels.{bad[0][0]}", f"channel {bad[0][1]} is not in 1..{len(order)}")
        channels = {d: tuple(order[c - 1] for c in cs) for d, cs in body.channels.items()}
    circuit = parse_netlist(body.netlist or "", source="netlist", name=body.name, types=types, channels=channels)
    extra = {k: v for k in ("symmetry_pairs", "self_symmetric", "critical_nets") if (v := getattr(body, k)) is not None}
    return Circuit.model_validate({**circuit.model_dump(), **extra}) if extra else circuit


@router.post("/designs", status_code=status.HTTP_201_CREATED, response_model=DesignOut, dependencies=[ADMIN],
             responses={422: {"description": "Invalid circuit or netlist: the body names the field or line"}})
def register(body: DesignIn, store: StoreDep) -> DesignOut:
    """Register (or replace) a design so /label and /finetune can use it."""
    circuit = circuit_of(body)
    record = store.register_design(circuit, source="json" if body.circuit is not None else "netlist")
    return _from_record(record)


@router.get("/designs", response_model=list[DesignOut], dependencies=[PREDICT])
def list_designs(store: StoreDep) -> list[DesignOut]:
    """Registered designs, then the built-in ones not overridden."""
    out = [_from_record(r) for r in store.list_designs()]
    names = {d.name for d in out}
    out += [_out(load_design(n), "builtin", "") for n in BUILTIN_DESIGNS if n not in names]
    return out


def get_circuit(store: StoreDep, name: str) -> Circuit:
    """A registered design, else a built-in one."""
    try:
        return store.get_design(name)
    except LookupError:
        pass
    if name in BUILTIN_DESIGNS:
        return load_design(name)
    raise UnknownDesign(name, [r.name for r in store.list_designs()] + list(BUILTIN_DESIGNS))


@router.get("/designs/{name}", response_model=Circuit, responses={404: {"description": "Unknown design"}},
            dependencies=[PREDICT])
def get_design(name: str, store: StoreDep) -> Circuit:
    return get_circuit(store, name)
