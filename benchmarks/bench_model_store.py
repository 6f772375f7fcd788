"""Latency of the model store's hot and warm paths on SQLite (embedded) and PostgreSQL (deployed).

    .venv/bin/python benchmarks/bench_model_store.py                      # both backends
    .venv/bin/python benchmarks/bench_model_store.py --backends sqlite --repeats 500

Hot path: `alias_revision()`, which every API process polls (default every 2 s). Warm paths: `aliases()` (read
the live map after a move), `load_artifact` (read + sha256 check), `set_alias` (one locked move + history row),
`publish` (onnxruntime validation + warm-up, blob write with fsync, row insert); `keys.verify`, the API key
check of every request when PLACEQ_AUTH=true. The artifact is a small
placeq-shaped ONNX graph with an (18, 64, 64) weight (~290 KB). Medians over `--repeats` calls; PostgreSQL is
the server at ``--pg`` (a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
from onnx import TensorProto, helper, numpy_helper
from psycopg import sql
from sqlalchemy.engine import make_url

from model_store import ModelStore, upgrade


def artifact(seed: int) -> bytes:
    w = np.random.default_rng(seed).random((18, 64, 64), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["features", "w"], ["xw"]),  # (B, 18, 64, 64)
            helper.make_node("ReduceMean", ["xw", "axes"], ["m"], keepdims=0),  # (B,)
            helper.make_node("Sigmoid", ["m"], ["probability"]),
        ],
        "bench",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", 18, 64, 64])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["B"])],
        initializer=[numpy_helper.from_array(w, "w"), helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    model.metadata_props.add(key="threshold", value="0.5")
    return bytes(model.SerializeToString())


def median_ms(fn: Callable[[int], object], repeats: int) -> float:
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench(url: str, blobs: Path, repeats: int) -> dict[str, float]:
    upgrade(url)
    blobs_data = [artifact(i) for i in range(max(20, repeats // 10))]
    with ModelStore(url, blobs) as store:
        for d in ("ota1", "ota2", "ota3", "ota4"):
            store.publish(d, blobs_data[0], created_by="bench", activate=True)
        n_pub = min(len(blobs_data), 30)
        out = {
            "publish": median_ms(lambda i: store.publish("ota1", blobs_data[i], created_by="bench"), n_pub),
            "alias_revision (poll)": median_ms(lambda i: store.alias_revision(), repeats * 4),
            "aliases() (4 designs)": median_ms(lambda i: store.aliases(), repeats),
            "load_artifact (verify)": median_ms(lambda i: store.load_artifact("ota1", 1 + i % n_pub), repeats),
            "set_alias": median_ms(lambda i: store.set_alias("ota1", 1 + i % n_pub, actor="bench"), repeats),
        }
        _, token = store.keys.create("bench", ["predict"])  # what every request pays with PLACEQ_AUTH=true
        out["keys.verify (valid key)"] = median_ms(lambda i: store.keys.verify(token), repeats)
        out["keys.verify (unknown id)"] = median_ms(lambda i: store.keys.verify("pq_000000000000_" + "x" * 43), repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    ap.add_argument("--repeats", type=int, default=200, help="Calls per measurement (the poll gets 4x).")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="Maintenance DB URL.")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                results[backend] = bench(f"sqlite:///{tmp}/bench.db", Path(tmp) / "blobs-sqlite", args.repeats)
                continue
            name = f"placeq_bench_{secrets.token_hex(4)}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                url = make_url(args.pg).set(drivername="postgresql+psycopg", database=name)
                results[backend] = bench(url.render_as_string(False), Path(tmp) / "blobs-pg", args.repeats)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    backends = list(results)
    print(f"load average {os.getloadavg()[0]:.2f}; medians in ms; repeats {args.repeats}")
    print("| operation | " + " | ".join(backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for op in results[backends[0]]:
        print(f"| {op} | " + " | ".join(f"{results[b][op]:.3f}" for b in backends) + " |")


if __name__ == "__main__":
    main()
