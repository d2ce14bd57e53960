"""Notebook set-up: where the notebook runs (Colab or not) and what device and precision it gets."""

from __future__ import annotations

import sys


def in_colab() -> bool:
    return "google.colab" in sys.modules


def setup() -> str:
    """Print the version, the device 'auto' resolves to and the precision; returns the device name."""
    from nstlib._version import __version__
    from nstlib.model.device import resolve_device, resolve_precision

    device = resolve_device("auto")
    name = str(device)
    if device.type == "cuda":
        import torch

        name += f" ({torch.cuda.get_device_name(device)})"
    print(f"NST Lab {__version__}: device {name}, precision {resolve_precision('auto', device)}")
    if in_colab() and device.type != "cuda":
        print(
            "No GPU: choose Runtime > Change runtime type > T4 GPU, then run the notebook again "
            "(it works on the CPU too, slowly)."
        )
    return str(device)
