"""Encore compiler: Hugging Face encoder -> integer-only program for the Encore ISA."""

from .models import NAMED, load_model
from .pipeline import CompiledModel, compile_model

__all__ = ["NAMED", "CompiledModel", "compile_model", "load_model"]
