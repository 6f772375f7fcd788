"""Labelling and fine-tuning jobs: a row in SQL (the source of truth), enqueued after commit, 202 + its URL
(`service.api.submit`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from placeq.errors import PlacementMismatch
from service.api.auth import ADMIN, PREDICT
from service.api.deps import RuntimeDep, StoreDep
from service.api.gate import GatedRoute
from service.api.limits import SETTING, body_bytes
from service.api.resolve import columns_batch, get_circuit, labellable
from service.api.schemas import FinetuneRequest, JobOut, LabelRequest
from service.api.submit import ACCEPTED, job_out, submit_job
from service.payloads import columns_job

router = APIRouter(tags=["jobs"], route_class=GatedRoute)

@router.post("/label", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut, responses=ACCEPTED,
             dependencies=[ADMIN])
def label(body: LabelRequest, runtime: RuntimeDep, request: Request, response: Response) -> JobOut:
    """Simulate placements of a registered (or built-in) design: layout effects -> ngspice -> metric values.

    Large jobs go in columns (`columns`, as /predict takes them): the body is about a quarter of the documented
    form's, and the job row keeps only the structure while the numbers are stored in parts that each chunk of
    the job reads by range (docs/performance.md)."""
    circuit = labellable(get_circuit(runtime.store, body.design))
    if body.columns is not None:
        batch = columns_batch(body.columns, runtime.store)
        try:
            batch.placement(0).check_against(circuit)  # one structure for all: the first placement checks it
        except PlacementMismatch as exc:
            raise PlacementMismatch(columns_field(exc.field), exc.message) from exc
        structure, parts = columns_job(batch)
        return submit_job("label", body.design, structure.model_dump(mode="json"), body.idempotency_key, runtime,
                       request, response, parts=parts)
    limit = runtime.settings.max_body_bytes
    if (size := body_bytes(request.scope)) > limit:
        raise HTTPException(413, f"placements: a body of {size} bytes in the documented form exceeds {limit} bytes "
                                 f"({SETTING}); send large label jobs in columns ('columns')")
    for p in body.placements or []:
        p.check_against(circuit)
    payload = body.payload().model_dump(mode="json")
    return submit_job("label", body.design, payload, body.idempotency_key, runtime, request, response)


COLUMN_OF = {"devices.name": "devices", "devices.kind": "kinds", "devices.tags": "tags", "pins.device": "pins.device",
             "pins.terminal": "pins.terminal", "pins.net": "pins.net"}


def columns_field(field: str) -> str:
    """The columnar field of a documented placement's field: ``devices[3].kind`` -> ``columns.kinds[3]``,
    ``pins[5].net`` -> ``columns.pins.net[5]``, ``design`` -> ``columns.design``."""
    head, _, attr = field.partition("].")
    name, _, index = head.partition("[")
    column = COLUMN_OF.get(f"{name}.{attr}")
    return f"columns.{column}[{index}]" if column else f"columns.{field}"


@router.post("/finetune", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut, responses=ACCEPTED,
             dependencies=[ADMIN])
def finetune(body: FinetuneRequest, runtime: RuntimeDep, request: Request, response: Response) -> JobOut:
    """Few-shot fine-tuning (paper Sec. IV-D): fine-tune, export, validate, publish a new version."""
    circuit = get_circuit(runtime.store, body.design)  # labels come with the request: no testbench needed
    for p in body.placements:
        p.check_against(circuit)
    if body.base_version is not None:
        runtime.store.get_version(body.design, body.base_version)  # 404 now rather than a failed job later
    payload = body.payload().model_dump(mode="json")
    return submit_job("finetune", body.design, payload, body.idempotency_key, runtime, request, response)


@router.get("/jobs", response_model=list[JobOut], dependencies=[PREDICT])
def list_jobs(store: StoreDep, request: Request, limit: int = Query(50, ge=1, le=500),
              design: str | None = None) -> list[JobOut]:
    return [job_out(j, request) for j in store.list_jobs(design=design, limit=limit)]


@router.get("/jobs/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}},
            dependencies=[PREDICT])
def get_job(job_id: str, store: StoreDep, request: Request) -> JobOut:
    return job_out(store.get_job(job_id), request)
