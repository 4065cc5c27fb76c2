"""The end-to-end demo on scikit-learn's bundled digits (``infonotation demo``)."""

from .run import run_demo

__all__ = ["run_demo"]
