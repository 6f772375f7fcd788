"""Registered designs: a user's circuit (placeq.domain.Circuit) stored as JSON under its name.

Registering is an upsert by name; the sha256 of the canonical JSON tells whether the circuit changed (a
fine-tune records which circuit it was trained on by that hash). The name "base" is reserved for the fallback
model's pseudo-design.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from model_store._rows import _Part, design_record
from model_store.errors import InvalidName
from model_store.orm import DesignRow
from model_store.records import BASE_DESIGN, DesignRecord, now
from placeq.circuits import BUILTIN_DESIGNS, load_design
from placeq.domain import Circuit
from placeq.errors import UnknownDesign


def circuit_sha256(circuit: Circuit) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces): equal circuits, equal hashes."""
    text = json.dumps(circuit.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Designs(_Part):
    def register_design(self, circuit: Circuit, *, source: str = "") -> DesignRecord:
        """Insert or replace the design `circuit.name`; re-registering the same circuit changes nothing."""
        if circuit.name == BASE_DESIGN:
            raise InvalidName("name", f"{BASE_DESIGN!r} is reserved for the fallback model")
        body = circuit.model_dump(mode="json")
        digest = circuit_sha256(circuit)
        for _ in range(3):  # a concurrent first registration of the same name makes the INSERT fail once
            try:
                with self.db.session() as s:
                    row = s.get(DesignRow, circuit.name)
                    ts = now()
                    if row is None:
                        row = DesignRow(
                            name=circuit.name, circuit=body, sha256=digest, source=source, created_at=ts, updated_at=ts
                        )
                        s.add(row)
                    elif row.sha256 != digest or row.source != source:
                        row.circuit, row.sha256, row.source, row.updated_at = body, digest, source, ts
                    s.flush()
                    return design_record(row)
            except IntegrityError:
                continue
        raise RuntimeError(f"could not register {circuit.name!r}: concurrent writers kept conflicting")

    def design_record(self, name: str) -> DesignRecord:
        with self.db.session() as s:
            row = s.get(DesignRow, name)
            if row is None:
                known = list(s.scalars(select(DesignRow.name).order_by(DesignRow.name)))
                raise UnknownDesign(name, known)
            return design_record(row)

    def get_design(self, name: str) -> Circuit:
        """The registered circuit (`placeq.errors.UnknownDesign` if none, listing the registered names)."""
        return Circuit.model_validate(self.design_record(name).circuit)

    def circuit(self, name: str) -> Circuit:
        """The circuit a job or a request means by `name`: a registered design, else a built-in one
        (`UnknownDesign` listing both otherwise)."""
        try:
            return self.get_design(name)
        except UnknownDesign as exc:
            if name in BUILTIN_DESIGNS:
                return load_design(name)
            raise UnknownDesign(name, exc.known + list(BUILTIN_DESIGNS)) from None

    def list_designs(self) -> list[DesignRecord]:
        with self.db.session() as s:
            return [design_record(r) for r in s.scalars(select(DesignRow).order_by(DesignRow.name))]
