"""Simulators of Encore programs: functional (bit-exact values) and timing (cycles)."""

from .errors import SimError
from .functional import FunctionalSim, FunctionalStats, run_program

__all__ = ["FunctionalSim", "FunctionalStats", "SimError", "run_program"]
