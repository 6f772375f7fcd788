"""The prediction service: FastAPI app (`service.api`), job workers (`service.workers`), ONNX scoring."""
