"""One `/label` job of N placements on 1 Celery worker against 2 (each its own `placeq worker --celery
--concurrency 1` process), on the machine's Redis and a throwaway PostgreSQL database (issue 15).

    .venv/bin/placeq place --design ota1 --count 16384 --seed 15 -o var/bench/ota1_16k.jsonl --workers 1
    .venv/bin/python benchmarks/bench_celery_scale.py --placements var/bench/ota1_16k.jsonl --workers 1 2

Each run: fresh workers started and seen ready (`celery ... ready.` in their log), then the clock runs from
sending the job id on the broker to the parent row's `succeeded` (the same moment a client polling `/jobs/{id}`
would see). `--unchunked` adds a run with one worker and chunking off (today's single-process job) as the
baseline. Prints one JSON line per run and a summary line with the ratio; labels of every run must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from model_store import JobState, ModelStore, upgrade
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


def run(items: list[Any], workers: int, chunk: int, url: str, broker: str, logdir: Path) -> dict[str, Any]:
    with redis.Redis.from_url(broker) as r:
        r.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLACEQ_")}
    env.update(PLACEQ_DATABASE_URL=url, PLACEQ_BROKER_URL=broker, PLACEQ_WORKER="celery",
               PLACEQ_HOME=str(logdir / "home"), PLACEQ_BLOB_ROOT=str(logdir / "blobs"),
               PLACEQ_LABEL_CHUNK_PLACEMENTS=str(chunk))
    procs = start_workers(workers, env, logdir)
    sender = make_celery(broker)
    try:
        with ModelStore(url, logdir / "blobs") as store:
            job = store.create_job("label", "ota1", {"placements": items})
            load_before = os.getloadavg()
            t0 = time.perf_counter()
            sender.send_task("placeq.run_job", args=[job.id], task_id=f"{job.id}-0")
            while (row := store.get_job(job.id)).state not in (JobState.SUCCEEDED, JobState.FAILED):
                time.sleep(0.1)
            seconds = time.perf_counter() - t0
            load_after = os.getloadavg()
            chunks = [c for c in store.list_jobs(kind="label_chunk", limit=1000) if c.payload["parent"] == job.id]
    finally:
        sender.close()
        stop(procs)
    if row.state != JobState.SUCCEEDED or row.result is None:
        raise RuntimeError(f"job failed: {row.error}")
    return {"workers": workers, "chunk": chunk if chunks else None, "chunks": len(chunks),
            "placements": len(items), "seconds": round(seconds, 2), "labels_per_s": round(len(items) / seconds, 1),
            "failed": row.result["failed"], "chunk_workers": len({c.worker for c in chunks}),
            "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
            "values": row.result["values"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--placements", type=Path, required=True, help="a .jsonl of ota1 placements")
    ap.add_argument("--count", type=int, default=None, help="use the first COUNT placements")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk", type=int, default=1024, help="PLACEQ_LABEL_CHUNK_PLACEMENTS")
    ap.add_argument("--unchunked", action="store_true", help="also run 1 worker with chunking off (baseline)")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/10")
    ap.add_argument("--out", type=Path, default=None, help="write the runs (without values) as JSON here")
    args = ap.parse_args()
    items = [json.loads(line) for line in args.placements.read_text().splitlines() if line.strip()]
    items = items[: args.count] if args.count else items
    name = f"placeq_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(ADMIN).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    logdir = Path(f"/tmp/{name}")
    logdir.mkdir()
    try:
        upgrade(url)
        plan = ([(1, len(items) + 1)] if args.unchunked else []) + [(w, args.chunk) for w in args.workers]
        runs = []
        for w, chunk in plan:
            r = run(items, w, chunk, url, args.broker, logdir)
            runs.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "values"}), flush=True)
        if any(r["values"] != runs[0]["values"] for r in runs):
            raise RuntimeError("runs disagree on the labels")
        chunked = {r["workers"]: r["seconds"] for r in runs if r["chunk"]}
        if 1 in chunked and 2 in chunked:
            print(json.dumps({"speedup_2_vs_1": round(chunked[1] / chunked[2], 2), "labels_agree": True}))
        if args.out:
            args.out.write_text(json.dumps([{k: v for k, v in r.items() if k != "values"} for r in runs], indent=1))
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    sys.exit(main())
