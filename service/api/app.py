"""The FastAPI application: `create_app(settings)` builds it; the lifespan owns the per-process `Runtime`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from model_store import Job
from placeq import __version__
from placeq.domain import Placement
from service.api import auth, errors
from service.api.limits import LABEL_SETTING, BodyLimit
from service.api.routes import designs, explore, health, jobs, models, oip, predict
from service.runtime import Runtime
from service.settings import Settings, get_settings

WEB = Path(str(resources.files("service.api") / "web"))
EXAMPLE = Path(str(resources.files("service") / "assets" / "example_placement.json"))

DESCRIPTION = """Scores analog OTA placements right after placement: the probability that a layout falls in the
worst 25% of its design's offset (or CMRR) after routing, extraction and simulation, and whether to prune it
(Liu, Zhu et al., DATE 2020). Labelling and fine-tuning run as jobs; models are versioned with a live alias."""


def celery_enqueue(settings: Settings) -> tuple[Callable[[Job], None], Callable[[], None]]:
    """(enqueue, close): send a job id to the Celery queue; close the broker connections at shutdown."""
    from service.workers.celery_app import make_celery

    app = make_celery(settings.broker_url)

    def enqueue(job: Job) -> None:
        app.send_task("placeq.run_job", args=[job.id], task_id=f"{job.id}-{job.attempts}")

    return enqueue, app.close


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        enqueue, close = celery_enqueue(settings) if settings.worker == "celery" else (None, None)
        runtime = Runtime(settings, enqueue=enqueue)
        runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.stop()
            if close is not None:
                close()

    app = FastAPI(title="placeq", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    errors.install(app)
    app.add_middleware(  # 413 before a body is read; a label job in columns may be larger
        BodyLimit, max_bytes=settings.max_body_bytes,
        larger={"/label": (max(settings.max_label_body_bytes, settings.max_body_bytes), LABEL_SETTING)},
    )
    auth.document(app, settings)  # /openapi.json shows the security this process enforces
    app.state.outage_keys = auth.OutageKeys(settings.auth_outage_grace_s)  # keys usable in a database outage
    for module in (predict, designs, jobs, explore, models, oip, health):
        app.include_router(module.router)
    app.mount("/ui", StaticFiles(directory=WEB, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/examples/placement", response_model=Placement, tags=["predict"])
    def example_placement() -> FileResponse:
        """A placement of the built-in OTA1: the body of /draw as it is; /predict takes it as {"placement": ...}."""
        return FileResponse(EXAMPLE, media_type="application/json")

    return app
