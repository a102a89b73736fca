"""Inputs for a run: texts through the model's tokenizer, or seeded random token ids."""

from __future__ import annotations

import numpy as np

#: Default texts of `encore run` (varied: one word to over 100 tokens, punctuation, numbers, case).
DEFAULT_TEXTS = [
    "Hello",
    "A man is playing a guitar on stage.",
    "Someone plays an acoustic guitar in front of an audience.",
    "The stock market crashed in 1929, wiping out 25 billion dollars in value.",
    "WHY IS THE SKY BLUE?!",
    "how do i reset my password??",
    "The cat sat on the mat; the dog, however, preferred the sofa.",
    "Pi is approximately 3.14159, and e is approximately 2.71828.",
    "Convolutional networks dominate vision, while transformers now dominate language modelling.",
    "Book a table for 4 people at 7:30 pm, please.",
    "Die Katze schläft auf dem Sofa.",
    "Email me at jane.doe@example.com before 5pm EST (Monday).",
    "iPhone 15 Pro Max vs. Galaxy S24 Ultra: which camera wins?",
    "A woman is slicing tomatoes in a kitchen.",
    "Quantization maps floating-point weights and activations to low-precision integers so that "
    "inference runs faster and uses less memory; integer-only schemes such as I-BERT go further "
    "and replace GELU, softmax and layer normalization with polynomial approximations, fixed-point "
    "arithmetic and an integer square root, which lets the whole encoder run on simple integer "
    "hardware without any floating-point unit, at the cost of a small and carefully measured loss "
    "in accuracy on benchmarks such as GLUE and SQuAD, usually well under one point.",
    "ok",
]


def random_ids(vocab: int, batch: int, seq: int, pad_id: int, seed: int = 0):
    """Seeded random token ids [batch, seq] with the full mask (for models without a tokenizer)."""
    rng = np.random.default_rng(seed)
    low = min(1000, vocab - 1)
    ids = rng.integers(low, vocab, size=(batch, seq)).astype(np.int64)
    ids[ids == pad_id] = low
    return ids, np.ones((batch, seq), dtype=np.int64)
