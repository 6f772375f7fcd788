"""Overload: does `placeq serve` shed (503 + Retry-After) when far more callers arrive than it may hold in flight?

    .venv/bin/python benchmarks/bench_overload.py                       # 200 callers x 3 calls of 16 layouts
    .venv/bin/python benchmarks/bench_overload.py --callers 200 --calls 3 --out benchmarks/results/overload.json

One `placeq serve --no-worker` on a fresh PLACEQ_HOME (loopback only, the shipped base model), then `--callers`
concurrent closed-loop callers, each making `--calls` POST /predict calls of `--layouts` placements. Bounded: at
most callers x calls requests, each with a 120 s client timeout. Reported: p50/p99/max latency of all answers,
the share answered 503 (shed) and whether each 503 carried Retry-After, other errors, and the 1-minute load
average before and after (the machine is shared: read the latencies against it).

Why: with sync routes, a request waiting for one of anyio's 40 worker threads was not yet "in flight", so
PLACEQ_MAX_INFLIGHT never fired and overload queued without limit (issue 16, finding 6).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a script beside bench_load.py, not a package

from bench_load import SHIPPED, Config, encode, placement_variants, serve  # noqa: E402


async def overload(url: str, callers: int, calls: int, body: bytes) -> dict[str, Any]:
    latencies: list[float] = []
    codes: list[int] = []
    retry_after: list[bool] = []
    errors: list[str] = []
    limits = httpx2.Limits(max_connections=callers, max_keepalive_connections=callers)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def caller() -> None:
            for _ in range(calls):
                start = time.perf_counter()
                try:
                    r = await client.post("/predict", content=body, headers={"content-type": "application/json"})
                except httpx2.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - start)
                codes.append(r.status_code)
                if r.status_code == 503:
                    retry_after.append("retry-after" in r.headers)

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        seconds = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    status = np.array(codes)

    def p99(mask: np.ndarray) -> float | None:
        return float(np.percentile(lat[mask], 99)) if mask.any() else None

    return {
        "requests": len(codes),
        "ok": codes.count(200),
        "shed": codes.count(503),
        "shed_share": codes.count(503) / max(len(codes), 1),
        "shed_with_retry_after": sum(retry_after),
        "other_status": sorted({c for c in codes if c not in (200, 503)}),
        "transport_errors": errors[:5],
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "max_ms": float(lat.max()) if lat.size else None,
        "p99_ok_ms": p99(status == 200),
        "p99_shed_ms": p99(status == 503),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--callers", type=int, default=200)
    p.add_argument("--calls", type=int, default=3, help="calls per caller (bounds the run)")
    p.add_argument("--layouts", type=int, default=16, help="placements per call")
    p.add_argument("--label", default="", help="recorded with the result (e.g. before/after)")
    p.add_argument("--out", type=Path, help="write the result as JSON")
    args = p.parse_args(argv)
    body = encode(placement_variants(args.layouts))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, serve(SHIPPED, Config("callers", 2, 1, 1), Path(tmp)) as server:
        result = asyncio.run(overload(server.url, args.callers, args.calls, body))
    result.update(label=args.label, callers=args.callers, calls=args.calls, layouts=args.layouts,
                  loadavg_1m_before=load_before, loadavg_1m_after=os.getloadavg()[0], cpus=os.cpu_count())
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
