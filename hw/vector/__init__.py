"""The vector engines of the compute queue (hw/engine.py interface).

``epilogue``: REQUANT, GELU, RESADD (shift scan, per-block parameters, DIM-lane pipeline);
``layernorm``: LAYERNORM (row statistics, iterative divide and square root, normalise).
"""

from .epilogue import GeluEngine, RequantEngine, ResaddEngine
from .layernorm import LayerNormEngine

#: Registered in hw/compute.py.
ENGINES = (RequantEngine, GeluEngine, ResaddEngine, LayerNormEngine)

__all__ = ["ENGINES", "GeluEngine", "LayerNormEngine", "RequantEngine", "ResaddEngine"]
