"""Calibration inputs: fixed sample sentences for models with a tokenizer, seeded random token
ids otherwise. They are not the evaluation inputs of `encore run`."""

from __future__ import annotations

import numpy as np

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Machine learning accelerators trade flexibility for efficiency.",
    "What time does the train to Edinburgh leave tomorrow morning?",
    "She sold 42 paintings in 2019, more than in the previous five years combined!",
    "Quantum computers may one day factor large integers efficiently.",
    "I can't believe it's already November; the year went by so fast.",
    "Add two cups of flour, a pinch of salt and 250 ml of warm water, then knead for ten minutes.",
    "The patient reported mild headaches, dizziness and occasional nausea after the treatment.",
    "Stock markets fell sharply on Tuesday as investors worried about rising interest rates.",
    "A transformer encoder maps a sequence of tokens to a sequence of contextual vectors, "
    "which downstream tasks such as retrieval, classification and tagging then consume.",
    "hello",
    "Is this the real life? Is this just fantasy?",
    "The committee will review all applications received before 5 p.m. on March 3rd.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Our team of twelve engineers shipped version 3.1 with 87 bug fixes.",
    "Where can I find a good vegetarian restaurant near the central station?",
    "yes",
    "Thanks!",
    "good morning",
    "Der Zug nach Berlin hat zehn Minuten Verspätung.",
    "NASA launched the Artemis I mission in November 2022.",
    "lol",
    "Please call me back at 555-0199.",
    "Neural networks learn representations from data.",
]


def calibration_inputs(tokenizer, vocab_size: int, seq: int, pad_id: int,
                       n: int = 4, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask) int64 [n, <= seq]: sentences are padded only to the longest of them."""
    if tokenizer is not None:
        enc = tokenizer(SENTENCES, padding="longest", truncation=True, max_length=seq,
                        return_tensors="np")
        return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    rng = np.random.default_rng(seed)
    ids = rng.integers(min(1000, vocab_size - 1), vocab_size, size=(n, seq))
    mask = np.ones((n, seq), dtype=np.int64)
    for i in range(n):
        length = int(rng.integers(max(1, seq // 4), seq + 1)) if i else seq
        mask[i, length:] = 0
        ids[i, length:] = pad_id
    return ids.astype(np.int64), mask
