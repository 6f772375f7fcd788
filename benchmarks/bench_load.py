"""Load test of the real service: `placeq serve` in a subprocess, driven over HTTP by concurrent clients.

    .venv/bin/python benchmarks/bench_load.py                  # full: fast3d + feat3d, 4 configurations, 100k soak
    .venv/bin/python benchmarks/bench_load.py --quick          # smoke: fast3d, one configuration, a few dozen calls
    .venv/bin/python benchmarks/bench_load.py --requests 20000 --models fast3d

Each server is `placeq serve --no-worker` on a fresh PLACEQ_HOME (SQLite, PLACEQ_WORKER=none, access log on as
shipped) with PLACEQ_BASE_MODEL set to the model under test: the shipped fast3d (service/assets/base_model) or a
paper-sized feat3d exported here, untrained, through `training.checkpoint.publish` (the production export path;
its random weights make its scores meaningless, its speed is what is measured). This process is the client:
asyncio + httpx2, N closed-loop callers on keep-alive connections, pre-encoded compact JSON bodies (one OTA1
placement is 19 KB). Its CPU time is measured and reported, because on a 2-core machine it competes with the
server; so is the server's (all its processes, from /proc), which is less sensitive to other jobs than wall time.

Configurations (one axis of CPU parallelism at a time, PLACEQ_ORT_THREADS and uvicorn workers):
  threads  1 caller,  ort_threads=2, 1 process   -- parallelism inside each request
  callers  2 callers, ort_threads=1, 1 process   -- parallelism across requests (the service default)
  procs    2 callers, ort_threads=1, 2 processes -- the same across uvicorn workers (no shared GIL)
  both     2 callers, ort_threads=2, 1 process   -- both axes (run_slots: one 2-thread run at a time)
Soak: --requests calls to fast3d (callers configuration); a call carries one placement, or with probability
--batch-share a random 1..64 of them; the server's RSS (VmRSS summed over its processes) is sampled every
--sample-every calls. Results go to --out (JSON) and --plot (PNG); Markdown tables go to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "service" / "assets" / "base_model"
EXAMPLE = REPO / "service" / "assets" / "example_placement.json"
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Config:
    name: str
    callers: int
    ort_threads: int
    workers: int


CONFIGS = {
    "threads": Config("threads", callers=1, ort_threads=2, workers=1),
    "callers": Config("callers", callers=2, ort_threads=1, workers=1),
    "procs": Config("procs", callers=2, ort_threads=1, workers=2),
    "both": Config("both", callers=2, ort_threads=2, workers=1),
}
KINDS = {"single": 1, "batch64": 64}
MODELS = ("fast3d", "feat3d")  # the shipped base model; the paper-sized one, exported untrained


# -- bodies ---------------------------------------------------------------------------------------------------
def placement_variants(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` variants of the example OTA1 placement, devices (and their pins) shifted by whole microns."""
    base = json.loads(EXAMPLE.read_text())
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        item = json.loads(json.dumps(base))
        shift = {
            d["name"]: float(s) for d, s in zip(item["devices"], rng.integers(-3, 4, len(item["devices"])), strict=True)
        }
        for d in item["devices"]:
            d["x"] += shift[d["name"]]
        for p in item["pins"]:
            p["box"]["x0"] += shift[p["device"]]
            p["box"]["x1"] += shift[p["device"]]
        out.append(item)
    return out


def encode(items: list[dict[str, Any]]) -> bytes:
    body = {"placement": items[0]} if len(items) == 1 else {"placements": items}
    return json.dumps(body, separators=(",", ":")).encode()


# -- the server -----------------------------------------------------------------------------------------------
def _proc_stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from "state" on; comm may hold spaces


def process_tree(root: int) -> list[int]:
    """`root` and its descendants (uvicorn's worker processes), from /proc."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int(_proc_stat(int(entry.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, pp in parent.items() if pp in frontier]
        tree += frontier
    return tree


def tree_rss_mb(pids: list[int]) -> float:
    """Sum of VmRSS (resident pages, shared ones counted per process) in MB."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError):
            continue
    return total / 1024


def tree_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (utime, stime)."""
    total = 0
    for pid in pids:
        try:
            f = _proc_stat(pid)
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            continue
    return total / TICK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the server child: SIGTERM when this benchmark dies, so an interrupted run leaves no server behind."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    url: str
    pids: list[int]


def seed_home(home: Path, model_dir: Path) -> None:
    """Migrate and publish the base model once, so two uvicorn workers do not race to create them."""
    from service.runtime import Runtime
    from service.settings import Settings

    runtime = Runtime(Settings(home=home, worker="none", base_model=model_dir, _env_file=None))
    runtime.ensure_base_model()
    runtime.store.close()


@contextmanager
def serve(model_dir: Path, cfg: Config, workdir: Path, timeout_s: float = 180.0) -> Iterator[Server]:
    home = workdir / f"home-{model_dir.name}-{cfg.ort_threads}-{cfg.workers}"
    seed_home(home, model_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLACEQ_")}
    env.update(
        PLACEQ_HOME=str(home),
        PLACEQ_WORKER="none",
        PLACEQ_BASE_MODEL=str(model_dir),
        PLACEQ_ORT_THREADS=str(cfg.ort_threads),
    )
    cmd = [sys.executable, "-m", "cli", "serve", "--no-worker", "--port", str(port), "--workers", str(cfg.workers)]
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + timeout_s, 0
        while ready < 3 * cfg.workers:  # several answers in a row: every worker process is likely up
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (home / "server.log").read_text()[-3000:]
                raise RuntimeError(f"server did not become ready (exit {proc.poll()}):\n{tail}")
            try:
                ready = ready + 1 if httpx2.get(url + "/readyz", timeout=2).status_code == 200 else 0
            except httpx2.TransportError:
                ready = 0
            time.sleep(0.2)
        yield Server(url=url, pids=process_tree(proc.pid))
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully, and stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the client -----------------------------------------------------------------------------------------------
@dataclass
class Phase:
    """Closed-loop calls until `seconds` have passed and `min_requests` were made (or `max_requests`)."""

    seconds: float = 0.0
    min_requests: int = 0
    max_requests: int | None = None


async def drive(
    url: str,
    callers: int,
    next_body: Callable[[int], tuple[bytes, int]],
    phase: Phase,
    on_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run `callers` closed loops; `next_body(i)` gives the i-th call's body and its layout count."""
    latencies: list[float] = []
    messages: list[str] = []
    layouts, errors = 0, 0
    issued = 0
    start = time.perf_counter()

    def more() -> bool:
        if phase.max_requests is not None:
            return issued < phase.max_requests
        return time.perf_counter() - start < phase.seconds or issued < phase.min_requests

    async def loop(client: httpx2.AsyncClient) -> None:
        nonlocal issued, layouts, errors
        while more():
            body, n = next_body(issued)
            issued += 1
            t0 = time.perf_counter()
            try:
                r = await client.post("/predict", content=body, headers={"content-type": "application/json"})
                ok = r.status_code == 200 and len(r.json()["results"]) == n
                why = f"HTTP {r.status_code}: {r.text[:200]}"
            except (httpx2.HTTPError, ValueError, KeyError) as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
            latencies.append(time.perf_counter() - t0)
            if ok:
                layouts += n
            else:
                errors += 1
                if len(messages) < 5:
                    messages.append(why)
            if on_done is not None:
                on_done(len(latencies))

    limits = httpx2.Limits(max_connections=callers, max_keepalive_connections=callers)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        await asyncio.gather(*(loop(client) for _ in range(callers)))
    wall = time.perf_counter() - start
    return summarize(np.array(latencies) * 1e3, layouts, errors, messages, wall)


def summarize(lat_ms: np.ndarray, layouts: int, errors: int, messages: list[str], seconds: float) -> dict[str, Any]:
    return {
        "requests": len(lat_ms),
        "layouts": layouts,
        "errors": errors,
        "error_messages": messages,
        "seconds": seconds,
        "requests_per_s": len(lat_ms) / seconds,
        "layouts_per_s": layouts / seconds,
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "max_ms": float(lat_ms.max()),
        "latencies_ms": lat_ms,  # dropped before the JSON is written
    }


def measure(
    server: Server, callers: int, next_body: Callable[[int], tuple[bytes, int]], warmup: Phase, phase: Phase
) -> dict[str, Any]:
    """A warm-up phase, then the measured one with this process's and the server's CPU seconds."""
    asyncio.run(drive(server.url, callers, next_body, warmup))
    c0, s0, load0 = time.process_time(), tree_cpu_s(server.pids), os.getloadavg()[0]
    row = asyncio.run(drive(server.url, callers, next_body, phase))
    row["client_cpu_s"], row["server_cpu_s"] = time.process_time() - c0, tree_cpu_s(server.pids) - s0
    row["load_1min"] = [load0, os.getloadavg()[0]]
    return row


def pool(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell over all its rounds: latencies pooled, throughput = all layouts / all measured seconds."""
    row = summarize(
        np.concatenate([r["latencies_ms"] for r in rounds]),
        sum(r["layouts"] for r in rounds),
        sum(r["errors"] for r in rounds),
        [m for r in rounds for m in r["error_messages"]][:5],
        sum(r["seconds"] for r in rounds),
    )
    cpu_client, cpu_server = sum(r["client_cpu_s"] for r in rounds), sum(r["server_cpu_s"] for r in rounds)
    row.update({k: rounds[0][k] for k in ("model", "config", "callers", "ort_threads", "workers", "kind", "batch")})
    row.update(
        rounds=len(rounds),
        client_cores=cpu_client / row["seconds"],
        server_cores=cpu_server / row["seconds"],
        server_cpu_ms_per_layout=1e3 * cpu_server / max(row["layouts"], 1),
        server_rss_mb=max(r["server_rss_mb"] for r in rounds),
        layouts_per_s_by_round=[r["layouts_per_s"] for r in rounds],
        load_1min=[r["load_1min"] for r in rounds],
    )
    return row


# -- experiments ----------------------------------------------------------------------------------------------
def export_feat3d(folder: Path, variants: list[dict[str, Any]]) -> Path:
    """An untrained paper-sized feat3d as a model directory (model.pt, model.onnx, model.json)."""
    import torch

    from placeq.domain import Placement
    from placeq.features import rasterize
    from training.checkpoint import Checkpoint, publish
    from training.nets import build

    torch.manual_seed(0)
    sample = np.stack([rasterize(Placement.model_validate(v)) for v in variants[:16]])  # (16, 18, 64, 64)
    d = folder / "feat3d"
    publish(d, Checkpoint(model=build("feat3d"), threshold=0.5, design="ota1"), sample=sample)
    return d


def run_matrix(
    models: dict[str, Path],
    configs: list[Config],
    bodies: dict[str, list[bytes]],
    workdir: Path,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Every configuration of every model, --rounds times over (interleaved, so a change in the machine's other
    load falls on all of them); one pooled row per cell."""
    by_server: dict[tuple[int, int], list[Config]] = {}
    for cfg in configs:
        by_server.setdefault((cfg.ort_threads, cfg.workers), []).append(cfg)
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for round_ in range(args.rounds):
        for model, model_dir in models.items():
            for group in by_server.values():
                with serve(model_dir, group[0], workdir) as server:
                    for cfg in group:
                        for kind, n in KINDS.items():
                            row = run_cell(server, cfg, bodies[kind], n, args)
                            row.update(
                                model=model,
                                config=cfg.name,
                                callers=cfg.callers,
                                ort_threads=cfg.ort_threads,
                                workers=cfg.workers,
                                kind=kind,
                                batch=n,
                            )
                            cells.setdefault((model, cfg.name, kind), []).append(row)
                            print(
                                f"  round {round_ + 1}: {model} {cfg.name} {kind}: {row['requests']} calls, "
                                f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                                f"{row['layouts_per_s']:.0f} layouts/s, {row['errors']} errors",
                                flush=True,
                            )
    return [pool(rounds) for rounds in cells.values()]


def run_cell(server: Server, cfg: Config, pool: list[bytes], n: int, args: argparse.Namespace) -> dict[str, Any]:
    def body(i: int) -> tuple[bytes, int]:
        return pool[i % len(pool)], n

    warm = Phase(args.warmup, min_requests=2 * cfg.callers)
    min_req = args.min_requests if n == 1 else args.min_batch_requests
    row = measure(server, cfg.callers, body, warm, Phase(args.seconds, min_requests=min_req))
    row["server_rss_mb"] = tree_rss_mb(server.pids)
    return row


def burst(model: str, model_dir: Path, body: bytes, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """--burst callers at once, each sending batches of 64: the server's RSS before and after. Every session run
    in flight holds a whole batch's activations in onnxruntime's CPU arena, which keeps what it once held."""
    cfg = Config("burst", callers=args.burst, ort_threads=1, workers=1)
    with serve(model_dir, cfg, workdir) as server:
        before = tree_rss_mb(server.pids)
        c0, s0 = time.process_time(), tree_cpu_s(server.pids)
        row = asyncio.run(drive(server.url, cfg.callers, lambda i: (body, 64), Phase(max_requests=args.burst_requests)))
        row["client_cores"] = (time.process_time() - c0) / row["seconds"]
        row["server_cores"] = (tree_cpu_s(server.pids) - s0) / row["seconds"]
        row["server_cpu_ms_per_layout"] = 1e3 * (tree_cpu_s(server.pids) - s0) / max(row["layouts"], 1)
        row.update(model=model, callers=cfg.callers, rss_before_mb=before, rss_after_mb=tree_rss_mb(server.pids))
    return row


def soak(
    model: str, model_dir: Path, variants: list[dict[str, Any]], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """--requests calls, mostly single placements, some random batches of 1..64; RSS every --sample-every."""
    rng = np.random.default_rng(1)
    sizes = np.where(rng.random(args.requests) < args.batch_share, rng.integers(1, 65, args.requests), 1)
    by_size = {k: encode(variants[k : 2 * k]) if k > 1 else encode(variants[:1]) for k in range(1, 65)}
    singles = [encode([v]) for v in variants]

    def body(i: int) -> tuple[bytes, int]:
        k = int(sizes[i % len(sizes)])
        return (singles[i % len(singles)], 1) if k == 1 else (by_size[k], k)

    cfg = CONFIGS["callers"]
    with serve(model_dir, cfg, workdir) as server:
        samples: list[tuple[int, float]] = [(0, tree_rss_mb(server.pids))]

        def on_done(count: int) -> None:
            if count % args.sample_every == 0:
                samples.append((count, tree_rss_mb(server.pids)))

        c0, s0, load0 = time.process_time(), tree_cpu_s(server.pids), os.getloadavg()[0]
        row = asyncio.run(drive(server.url, cfg.callers, body, Phase(max_requests=args.requests), on_done))
        row["client_cores"] = (time.process_time() - c0) / row["seconds"]
        row["server_cores"] = (tree_cpu_s(server.pids) - s0) / row["seconds"]
        row["server_cpu_ms_per_layout"] = 1e3 * (tree_cpu_s(server.pids) - s0) / max(row["layouts"], 1)
        row["load_1min"] = [load0, os.getloadavg()[0]]
        samples.append((row["requests"], tree_rss_mb(server.pids)))
    warm_at = max(args.requests // 20, args.sample_every)
    counts = np.array([c for c, _ in samples])
    rss = np.array([m for _, m in samples])
    after = counts >= warm_at
    slope = float(np.polyfit(counts[after], rss[after], 1)[0]) * 10_000 if after.sum() >= 3 else float("nan")
    row.update(
        model=model,
        batch_share=args.batch_share,
        sizes_histogram={
            "1": int((sizes == 1).sum()),
            "2-8": int(((sizes > 1) & (sizes <= 8)).sum()),
            "9-64": int((sizes > 8).sum()),
        },
        rss_samples=samples,
        warmup_requests=warm_at,
        rss_start_mb=float(rss[0]),
        rss_after_warmup_mb=float(rss[after][0]),
        rss_end_mb=float(rss[-1]),
        rss_max_mb=float(rss.max()),
        rss_slope_mb_per_10k=slope,
    )
    return row


# -- report ---------------------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | config | callers | ort threads | processes | call | calls | p50 ms | p99 ms | calls/s | "
        "layouts/s | server CPU ms/layout | server cores | client cores | errors |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['config']} | {r['callers']} | {r['ort_threads']} | {r['workers']} | {r['kind']} | "
            f"{r['requests']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests_per_s']:.1f} | "
            f"{r['layouts_per_s']:.0f} | {r['server_cpu_ms_per_layout']:.2f} | {r['server_cores']:.2f} | "
            f"{r['client_cores']:.2f} | {r['errors']} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """fast3d / feat3d throughput per configuration and call kind, from this run."""
    key = {(r["model"], r["config"], r["kind"]): r for r in rows}
    out = []
    for (model, cfg, kind), r in key.items():
        other = key.get(("feat3d", cfg, kind))
        if model == "fast3d" and other is not None:
            out.append(f"fast3d / feat3d layouts/s, {cfg}, {kind}: {r['layouts_per_s'] / other['layouts_per_s']:.1f}x")
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, rss = zip(*result["rss_samples"], strict=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(np.array(counts) / 1000, rss, marker=".", lw=1)
    ax.axvline(result["warmup_requests"] / 1000, color="grey", ls=":", lw=1, label="end of warm-up")
    ax.set_xlabel("requests served (thousands)")
    ax.set_ylabel("server RSS (MB)")
    ax.set_ylim(0, max(rss) * 1.15)
    ax.set_title(
        f"{result['model']}: {result['requests']:,} calls, {result['batch_share']:.0%} of them random batches of 1..64",
        fontsize=9,
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> dict[str, Any]:
    import onnxruntime

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "httpx2": httpx2.__version__,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: fast3d, callers config, a few dozen calls")
    p.add_argument("--models", default="fast3d,feat3d", help="comma list of fast3d (shipped), feat3d (untrained)")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--rounds", type=int, default=3, help="times the whole matrix runs (pooled per cell)")
    p.add_argument("--seconds", type=float, default=10.0, help="least measured seconds per cell and round")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per cell")
    p.add_argument("--min-requests", type=int, default=150, help="least single calls per cell and round")
    p.add_argument("--min-batch-requests", type=int, default=30, help="least batch-64 calls per cell and round")
    p.add_argument("--requests", type=int, default=100_000, help="soak calls (0: no soak)")
    p.add_argument("--batch-share", type=float, default=0.1, help="share of soak calls carrying 1..64 placements")
    p.add_argument("--sample-every", type=int, default=1000, help="soak calls between RSS samples")
    p.add_argument("--burst", type=int, default=16, help="callers of the batch-64 burst on the largest model (0: none)")
    p.add_argument("--burst-model", default="feat3d", choices=MODELS, help="model of the burst")
    p.add_argument("--soak-model", default="fast3d", choices=MODELS, help="model of the soak")
    p.add_argument("--burst-requests", type=int, default=64, help="calls in the burst")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_load.json")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "load_rss.png")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.configs, args.seconds, args.warmup, args.rounds = "fast3d", "callers", 0.0, 0.0, 1
        args.burst_model = "fast3d"
        args.min_requests, args.min_batch_requests = 24, 4
        args.requests, args.sample_every, args.burst, args.burst_requests = min(args.requests, 60), 10, 3, 6
    return args


def _no_arrays(value: object) -> object:
    """json.dumps fallback: the latency arrays stay out of the results file (their percentiles are in it)."""
    if isinstance(value, np.ndarray):
        return None
    raise TypeError(type(value).__name__)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: servers stopped, temporary folder removed
    command = shlex.join(["benchmarks/bench_load.py", *(sys.argv[1:] if argv is None else argv)])
    load_start = os.getloadavg()
    variants = placement_variants(128)
    bodies = {"single": [encode([v]) for v in variants], "batch64": [encode(variants[i : i + 64]) for i in (0, 32, 64)]}
    configs = [CONFIGS[c] for c in args.configs.split(",") if c]
    with tempfile.TemporaryDirectory(prefix="placeq-load-") as tmp:
        workdir = Path(tmp)
        names = [m for m in args.models.split(",") if m]
        dirs = {"fast3d": SHIPPED}
        if "feat3d" in {*names, args.burst_model, args.soak_model}:
            dirs["feat3d"] = export_feat3d(workdir, variants)
        print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
        rows = run_matrix({m: dirs[m] for m in names}, configs, bodies, workdir, args)
        burst_row = None
        if args.burst:
            burst_row = burst(args.burst_model, dirs[args.burst_model], bodies["batch64"][0], workdir, args)
        soak_row = soak(args.soak_model, dirs[args.soak_model], variants, workdir, args) if args.requests else None
    load_end = os.getloadavg()
    ratio_lines = ratios(rows)
    result = {
        "command": command,
        "machine": machine(),
        "load_start": load_start,
        "load_end": load_end,
        "rows": rows,
        "ratios": ratio_lines,
        "burst": burst_row,
        "soak": soak_row,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=_no_arrays) + "\n")
    print(f"\n{command}\nload average {load_start[0]:.2f} -> {load_end[0]:.2f} (1 min); {result['machine']}\n")
    print(table(rows))
    for line in ratio_lines:
        print(line)
    if burst_row is not None:
        b = burst_row
        print(
            f"\nburst: {b['callers']} callers x batch 64 on {b['model']}, {b['requests']} calls, {b['errors']} errors, "
            f"p50 {b['p50_ms']:.0f} ms, p99 {b['p99_ms']:.0f} ms; server RSS {b['rss_before_mb']:.0f} MB -> "
            f"{b['rss_after_mb']:.0f} MB"
        )
    if soak_row is not None:
        plot(soak_row, args.plot)
        s = soak_row
        print(
            f"\nsoak: {s['requests']:,} calls ({s['layouts']:,} layouts) in {s['seconds']:.0f} s, "
            f"{s['errors']} errors, "
            f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms; RSS start {s['rss_start_mb']:.0f} MB, after "
            f"{s['warmup_requests']:,} calls {s['rss_after_warmup_mb']:.0f} MB, end {s['rss_end_mb']:.0f} MB, max "
            f"{s['rss_max_mb']:.0f} MB, slope {s['rss_slope_mb_per_10k']:+.2f} MB per 10k calls"
        )
    return result


if __name__ == "__main__":
    main()
