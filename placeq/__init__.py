"""placeq core: the torch-free domain model, file formats, rasterizer and built-in circuits.

Everything else (simulate, training, model_store, service, cli) imports this package; it imports none of them
(tests/test_architecture.py checks it).
"""

__version__ = "0.1.0"
