"""all-MiniLM-L6-v2: sentence-embedding cosine >= 0.99 against PyTorch FP32 for every input, on
the built-in texts and on a held-out list never used for tuning (tests/heldout_texts.py), one
unpadded batch each (results do not depend on the batch).

The held-out list does NOT reach 0.99 yet (measured min 0.9848, "ok thanks", and four other
inputs of 2 to 4 words below 0.99): docs/architecture.md "Short inputs". It is a strict xfail so
that it reports when a fix lands. The built-in list passes (min 0.9929).
"""

import numpy as np
import pytest

from encore.api import run_model
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig
from tests.heldout_texts import HELDOUT_TEXTS

HELDOUT = pytest.param(HELDOUT_TEXTS, id="heldout", marks=pytest.mark.xfail(
    strict=True, reason="short held-out inputs reach 0.985: docs/architecture.md 'Short inputs'"))


@pytest.mark.slow
@pytest.mark.parametrize("texts", [pytest.param(DEFAULT_TEXTS, id="builtin"), HELDOUT])
def test_minilm_min_cosine(texts):
    res = run_model("minilm-l6", texts=list(texts), config=MachineConfig(dim=16))
    cos = np.array(res.report["accuracy"]["embedding_cosine"])
    short = [i for i, x in enumerate(res.report["inputs"]) if x["tokens"] <= 6]
    assert len(texts) < 20 or len(short) >= 16  # the held-out list has one- to four-word inputs
    assert cos.min() >= 0.99, sorted(zip(cos.round(5), texts, strict=True))[:5]
