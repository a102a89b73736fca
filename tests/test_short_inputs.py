"""all-MiniLM-L6-v2: every input, one-word ones included, at sentence-embedding cosine >= 0.99
against PyTorch FP32, on the built-in texts and on a held-out list never used for tuning
(tests/heldout_texts.py). One unpadded batch each (results do not depend on the batch)."""

import numpy as np
import pytest

from encore.api import run_model
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig
from tests.heldout_texts import HELDOUT_TEXTS


@pytest.mark.slow
@pytest.mark.parametrize("texts", [DEFAULT_TEXTS, HELDOUT_TEXTS], ids=["builtin", "heldout"])
def test_minilm_min_cosine(texts):
    res = run_model("minilm-l6", texts=list(texts), config=MachineConfig(dim=16))
    cos = np.array(res.report["accuracy"]["embedding_cosine"])
    short = [i for i, x in enumerate(res.report["inputs"]) if x["tokens"] <= 6]
    assert len(texts) < 20 or len(short) >= 16  # the held-out list has one- to four-word inputs
    assert cos.min() >= 0.99, sorted(zip(cos.round(5), texts))[:5]
