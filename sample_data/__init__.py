"""Deterministic sample POS registers ("cajas") for the demo, the tests and the benchmarks."""

from __future__ import annotations

from sample_data.engines import load_sqlite_extension, sqlite_extension_path
from sample_data.generate import FAULTS, SampleSpec, build_ready, generate
from sample_data.layouts import FLAVOURS

__all__ = [
    "FAULTS",
    "FLAVOURS",
    "SampleSpec",
    "build_ready",
    "generate",
    "load_sqlite_extension",
    "sqlite_extension_path",
]
