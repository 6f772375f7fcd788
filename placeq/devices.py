"""Where training runs, by name (torch-free, so `placeq --help` offers the choices without importing torch)."""

from __future__ import annotations

from typing import Literal, get_args

Device = Literal["auto", "cpu", "cuda"]  # auto: CUDA when torch sees a device, else the CPU
DEVICES: tuple[str, ...] = get_args(Device)
