"""Torch side of placeq: placer, simulator driver, CNN models, training, ONNX export (imports placeq only)."""
