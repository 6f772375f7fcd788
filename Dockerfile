# One image for the API and the workers. The API process never imports torch; the worker needs it.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ngspice libngspice0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY placeq ./placeq
COPY simulate ./simulate
COPY training ./training
COPY model_store ./model_store
COPY service ./service
COPY cli ./cli
RUN pip install --no-cache-dir ".[serve,train]"
ENV PLACEQ_HOME=/data PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["placeq", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
