"""One `/label` job of N placements on 1 Celery worker against 2 (each its own `placeq worker --celery
--concurrency 1` process), on the machine's Redis and a throwaway PostgreSQL database (issue 15).

    .venv/bin/placeq place --design ota1 --count 16384 --seed 15 -o var/bench/ota1_16k.jsonl --workers 1
    .venv/bin/python benchmarks/bench_celery_scale.py --placements var/bench/ota1_16k.jsonl --workers 1 2 --repeat 3

Each run: fresh workers started and seen ready (`celery ... ready.` in their log). With ``--form columns`` (the
default) the job goes through the API: ``POST /label`` with the placements in columns, to the app in this
process (`create_app`, Celery mode, so the API itself sends the job to the broker); the clock runs from the POST
to the parent row's `succeeded` (the same moment a client polling `/jobs/{id}` would see), and `submit_s` is the
POST's share. With ``--form placements`` the job row is written straight into the database in the documented
form (no API: such a body is far over the API's limit) and the clock starts when its id is sent on the broker.
`--unchunked` adds a run with one worker and chunking off (today's single-process job) as the baseline.
`--repeat R` runs the worker counts R times, interleaved (1 2 2 1 1 2 ...), so drifting load on a shared machine
hits both alike. The 1-minute load average is sampled every 2 s during each run. Prints one JSON line per run and
a summary line with the medians and their ratio; labels of every run must agree.

``--job explore`` (issue 17) times ``POST /designs/ota1/explore`` instead: the workers place the space (by default
all 2^14 = 16,384 critical-net weightings), score it with the shipped base model and store it, in chunks of
``--chunk`` (`PLACEQ_EXPLORE_CHUNK_PLACEMENTS`); each run reports the worker-seconds of each stage (placing,
scoring, packing for storage, summed over the chunks), and the scores of every run must agree:

    .venv/bin/python benchmarks/bench_celery_scale.py --job explore --workers 1 2 --repeat 2 \
        --out benchmarks/results/bench_explore_16384.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import redis
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import make_url

from model_store import JobState, ModelStore, upgrade
from service.api.app import create_app
from service.settings import Settings
from service.workers.celery_app import make_celery

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("PLACEQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def start_workers(n: int, env: dict[str, str], logdir: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    out = []
    for i in range(n):
        log = logdir / f"worker{i}.log"
        with log.open("wb") as f:
            proc = subprocess.Popen([str(ROOT / ".venv/bin/placeq"), "worker", "--celery", "--concurrency", "1"],
                                    env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        out.append((proc, log))
    deadline = time.monotonic() + 120
    while not all(b" ready." in log.read_bytes() for _, log in out):
        if time.monotonic() > deadline:
            raise RuntimeError("workers not ready in 120 s")
        time.sleep(0.2)
    return out


def stop(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for proc, _ in workers:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def columns_body(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The columnar form of documented placements of one structure, built from the JSON (validating 16,384
    placements with pydantic here would take a minute; the API validates the columns it receives)."""
    from placeq.batch import PlacementBatch
    from placeq.columns import columns_of
    from placeq.domain import Placement

    cols = columns_of(PlacementBatch.from_placements([Placement.model_validate(items[0])]))
    names = cols["devices"]
    pins = [(p["device"], p["terminal"], p["net"]) for p in items[0]["pins"]]
    boxes, pin_boxes = [], []
    for i, item in enumerate(items):
        if [d["name"] for d in item["devices"]] != names or [(p["device"], p["terminal"], p["net"])
                                                             for p in item["pins"]] != pins:
            raise ValueError(f"placement {i} has another structure than placement 0")
        boxes.append([v for d in item["devices"] for v in (d["x"], d["y"], d["w"], d["h"])])
        pin_boxes.append([v for p in item["pins"] for v in (p["box"]["x0"], p["box"]["y0"], p["box"]["x1"],
                                                           p["box"]["y1"])])
    return {**cols, "boxes": boxes, "pin_boxes": pin_boxes}


class LoadSampler:
    """The 1-minute load average every `every` s in a thread (`/proc/loadavg`, as `os.getloadavg`)."""

    def __init__(self, every: float = 2.0) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(items: list[Any], body: dict[str, Any] | None, workers: int, chunk: int, url: str, broker: str,
        logdir: Path, job: str = "label") -> dict[str, Any]:
    """One job on `workers` fresh worker processes: through the API when `body` (a columnar /label body, or an
    explore request with ``job="explore"``) is given, else as a documented job row written straight into the
    database."""
    route, chunk_kind = ("/designs/ota1/explore", "explore_chunk") if job == "explore" else ("/label", "label_chunk")
    with redis.Redis.from_url(broker) as r:
        r.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLACEQ_")}
    env.update(PLACEQ_DATABASE_URL=url, PLACEQ_BROKER_URL=broker, PLACEQ_WORKER="celery",
               PLACEQ_HOME=str(logdir / "home"), PLACEQ_BLOB_ROOT=str(logdir / "blobs"),
               PLACEQ_LABEL_CHUNK_PLACEMENTS=str(chunk), PLACEQ_EXPLORE_CHUNK_PLACEMENTS=str(chunk))
    procs = start_workers(workers, env, logdir)
    sender = make_celery(broker)
    submit_s = 0.0
    try:
        with ModelStore(url, logdir / "blobs") as store, contextlib.ExitStack() as stack:
            client = None
            if body is not None:
                settings = Settings(database_url=url, broker_url=broker, worker="celery", home=logdir / "home",
                                    blob_root=logdir / "blobs", label_chunk_placements=chunk,
                                    explore_chunk_placements=chunk)
                client = stack.enter_context(TestClient(create_app(settings)))
            load_before = os.getloadavg()
            sampler = stack.enter_context(LoadSampler())
            t0 = time.perf_counter()
            if client is not None:
                answer = client.post(route, json=body)
                if answer.status_code != 202:
                    raise RuntimeError(f"POST {route}: {answer.status_code} {answer.text[:500]}")
                job_id = answer.json()["id"]
                submit_s = time.perf_counter() - t0
            else:
                job_id = store.create_job("label", "ota1", {"placements": items}).id
                t0 = time.perf_counter()
                sender.send_task("placeq.run_job", args=[job_id], task_id=f"{job_id}-0")
            while (row := store.get_job(job_id)).state not in (JobState.SUCCEEDED, JobState.FAILED):
                time.sleep(0.1)
            seconds = time.perf_counter() - t0
            load_after = os.getloadavg()
            chunks = [c for c in store.list_jobs(kind=chunk_kind, limit=1000) if c.payload["parent"] == job_id]
            row_bytes = len(json.dumps(store.get_job(job_id).payload))
    finally:
        sender.close()
        stop(procs)
    if row.state != JobState.SUCCEEDED or row.result is None:
        raise RuntimeError(f"job failed: {row.error}")
    during = sampler.samples or [load_after[0]]
    common = {"workers": workers, "chunks": len(chunks), "seconds": round(seconds, 2), "submit_s": round(submit_s, 2),
              "chunk_workers": len({c.worker for c in chunks}),
              "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
              "loadavg_1min_during": {"min": round(min(during), 2), "median": round(statistics.median(during), 2),
                                      "max": round(max(during), 2)}}
    if job == "explore":  # the stages' worker-seconds, summed over the chunks, and the scores instead of labels
        n = row.result["placements"]
        return {"job": job, **common, "chunk": chunk, "placements": n, "placements_per_s": round(n / seconds, 1),
                "stage_worker_s": row.result["seconds"], "kept": row.result["kept"], "values": row.result["scores"]}
    return {**common, "form": "columns" if body is not None else "placements", "chunk": chunk if chunks else None,
            "placements": len(items), "labels_per_s": round(len(items) / seconds, 1), "failed": row.result["failed"],
            "job_row_bytes": row_bytes, "values": row.result["values"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", choices=["label", "explore"], default="label",
                    help="label: a /label job of --placements; explore: POST /designs/ota1/explore of --count "
                         "placements (default: the whole 16,384-placement space), pruning 25%%")
    ap.add_argument("--placements", type=Path, help="a .jsonl of ota1 placements (--job label)")
    ap.add_argument("--count", type=int, default=None, help="use the first COUNT placements")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="run the worker counts this many times, interleaved")
    ap.add_argument("--chunk", type=int, default=1024, help="PLACEQ_LABEL_CHUNK_PLACEMENTS")
    ap.add_argument("--form", choices=["columns", "placements"], default="columns",
                    help="columns: POST /label through the API; placements: a documented job row written directly")
    ap.add_argument("--unchunked", action="store_true", help="also run 1 worker with chunking off (baseline)")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/10")
    ap.add_argument("--out", type=Path, default=None, help="write the runs (without values) as JSON here")
    args = ap.parse_args()
    items: list[Any] = []
    if args.job == "explore":
        body: dict[str, Any] | None = {"count": args.count, "seed": 0, "prune_rate": 0.25}
    else:
        if args.placements is None:
            ap.error("--job label needs --placements")
        items = [json.loads(line) for line in args.placements.read_text().splitlines() if line.strip()]
        items = items[: args.count] if args.count else items
        body = {"design": "ota1", "columns": columns_body(items)} if args.form == "columns" else None
    if body is not None and args.job == "label":
        print(json.dumps({"body_bytes": len(json.dumps(body)), "placements": len(items)}), flush=True)
    name = f"placeq_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(ADMIN).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    logdir = Path(f"/tmp/{name}")
    logdir.mkdir()
    try:
        upgrade(url)
        order = [w for r in range(args.repeat) for w in (args.workers if r % 2 == 0 else args.workers[::-1])]
        plan = ([(1, len(items) + 1)] if args.unchunked else []) + [(w, args.chunk) for w in order]
        runs = []
        for w, chunk in plan:
            r = run(items, body, w, chunk, url, args.broker, logdir, args.job)
            runs.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "values"}), flush=True)
        if any(r["values"] != runs[0]["values"] for r in runs):
            raise RuntimeError("runs disagree on the labels (or the explore scores)")
        chunked: dict[int, list[float]] = {}
        for r in runs:
            if r["chunk"]:
                chunked.setdefault(r["workers"], []).append(r["seconds"])
        if 1 in chunked and 2 in chunked:
            one, two = statistics.median(chunked[1]), statistics.median(chunked[2])
            print(json.dumps({"median_s_1_worker": one, "median_s_2_workers": two,
                              "speedup_2_vs_1": round(one / two, 2), "runs": chunked, "labels_agree": True}))
        if args.out:
            args.out.write_text(json.dumps([{k: v for k, v in r.items() if k != "values"} for r in runs], indent=1))
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
