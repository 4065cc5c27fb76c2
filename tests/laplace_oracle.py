"""laplace-torch as a test oracle, imported so that a broken torchvision cannot stop it.

laplace-torch 0.3 depends on torchvision but never imports it; torchmetrics (which laplace-torch imports) imports
torchvision whenever its distribution is installed. PyPI's torchvision wheels are CUDA builds: beside the CPU build
of torch their compiled operators do not load and ``import torchvision`` raises. When that happens, torchmetrics is
told that torchvision is absent before laplace-torch is imported (nothing else changes); with a working torchvision
nothing is touched.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_laplace() -> ModuleType:
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure of a broken build
        for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[name]
        import lightning_utilities.core.imports as lui

        original = lui._version

        def _version(name: str) -> str:
            if name == "torchvision":
                raise lui.PackageNotFoundError(name)
            return original(name)

        lui._version = _version
        sys.modules["torchvision"] = None  # type: ignore[assignment]
    import laplace

    return laplace
