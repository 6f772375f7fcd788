"""placeq core: the torch-free domain model, file formats, rasterizer and built-in circuits.

Everything else (training, model_store, service) imports this package; it imports none of them.
"""

__version__ = "0.1.0"
