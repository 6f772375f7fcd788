"""Where a /predict call's server CPU goes, stage by stage, in one process and one thread (no HTTP).

    .venv/bin/python benchmarks/bench_load_stages.py [--repeats 15]

The stages are the route's own code (service/api/routes/predict.py): validating the JSON body into the domain
model (`PredictRequest.model_validate_json`), rasterizing (`features_of`), scoring (`LoadedModel.predict` as the
service loads it, ort_threads=1) for the shipped fast3d and an untrained feat3d, and writing the response.
One more row validates the JSON again after `gc.freeze()`, which the API process does not call (yet).
Each figure is the median CPU time of this process over --repeats calls, per layout, at 1 and 64 layouts a call;
CPU time rather than wall time because the machine is shared. Complements bench_load.py, which measures the same
calls over HTTP.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from bench_load import REPO, SHIPPED, encode, placement_variants

import service.api.app  # noqa: F401  (the API process's imports: what the collector walks there)
from service.api.resolve import features_of
from service.api.schemas import LayoutScore, ModelRef, PredictRequest, PredictResponse
from service.scoring import load_model


def respond(probs: np.ndarray, ref: ModelRef) -> str:
    """The route's response body for these scores."""
    results = [LayoutScore(probability=float(p), prune=bool(p >= 0.5)) for p in probs]
    body: str = PredictResponse(design="ota1", model=ref, threshold=0.5, results=results).model_dump_json()
    return body


def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        times.append(time.process_time() - c0)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_load_stages.json")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    variants = placement_variants(64)
    rows: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # torch stays out of this process: its objects would change what the garbage collector has to walk.
        export = f"import bench_load as b; b.export_feat3d(b.Path({tmp!r}), b.placement_variants(64))"
        subprocess.run([sys.executable, "-c", export], cwd=Path(__file__).parent, check=True)
        dirs = {"fast3d": SHIPPED, "feat3d": Path(tmp) / "feat3d"}
        models = {
            m: load_model((d / "model.onnx").read_bytes(), design="base", version=1, sha256="", threshold=0.5)
            for m, d in dirs.items()
        }
    for n in (1, 64):
        body = encode(variants[:n])
        request = PredictRequest.model_validate_json(body)
        x = features_of(request.items, nofeat=False)  # (n, 18, 64, 64)
        probs = models["fast3d"].predict(x)
        ref = ModelRef(design="base", version=1, sha256="0" * 64)

        stages: dict[str, Callable[[], object]] = {
            "validate JSON": partial(PredictRequest.model_validate_json, body),
            "rasterize": partial(features_of, request.items, nofeat=False),
            "score fast3d": partial(models["fast3d"].predict, x),
            "score feat3d": partial(models["feat3d"].predict, x),
            "response": partial(respond, probs, ref),
        }
        for name, fn in stages.items():
            rows.setdefault(name, {})[n] = cpu_ms(fn, args.repeats if n == 1 else max(3, args.repeats // 3)) / n
        # A 64-placement body allocates ~10^5 objects; the collections they trigger walk every long-lived object
        # of the process (imports, sessions). gc.freeze() moves those out of the collector's way.
        gc.freeze()
        rows.setdefault("validate JSON after gc.freeze()", {})[n] = cpu_ms(stages["validate JSON"], 7) / n
        gc.unfreeze()
        print(f"{n} layout(s) a call: body {len(body) / 1024:.0f} KB", flush=True)
    load_end = os.getloadavg()[0]
    print(f"\nmedian CPU ms per layout, one thread; load average {load_start:.2f} -> {load_end:.2f}\n")
    print("| stage | 1 layout a call | 64 layouts a call |\n|---|---|---|")
    for name, by_n in rows.items():
        print(f"| {name} | {by_n[1]:.2f} | {by_n[64]:.2f} |")
    for model in ("fast3d", "feat3d"):
        for n in (1, 64):
            total = sum(v[n] for s, v in rows.items() if "gc" not in s and (not s.startswith("score") or model in s))
            print(f"{model}, {n} a call: {total:.2f} ms per layout in these stages")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load": [load_start, load_end], "cpu_ms_per_layout": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
