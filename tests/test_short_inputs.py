"""all-MiniLM-L6-v2: sentence-embedding cosine >= 0.99 against PyTorch FP32 for every input, on
the built-in texts and on a held-out list never used for tuning (tests/heldout_texts.py), one
unpadded batch each (results do not depend on the batch).

Met with the 16-bit LayerNorm and GELU outputs (act_bits=16, the default; measured held-out min
0.9948, "ok thanks", built-in min 0.9971): docs/architecture.md "Short inputs". With int8
activations (act_bits=8) the held-out list stays below 0.99 (min 0.9848): that case is kept as a
strict xfail, so that it reports if it ever changes.
"""

import numpy as np
import pytest

from encore.api import run_model
from encore.inputs import DEFAULT_TEXTS
from isa import MachineConfig
from tests.heldout_texts import HELDOUT_TEXTS


@pytest.mark.slow
@pytest.mark.parametrize("texts", [pytest.param(DEFAULT_TEXTS, id="builtin"),
                                   pytest.param(HELDOUT_TEXTS, id="heldout")])
def test_minilm_min_cosine(texts):
    res = run_model("minilm-l6", texts=list(texts), config=MachineConfig(dim=16))
    assert res.report["act_bits"] == 16
    cos = np.array(res.report["accuracy"]["embedding_cosine"])
    short = [i for i, x in enumerate(res.report["inputs"]) if x["tokens"] <= 6]
    assert len(texts) < 20 or len(short) >= 16  # the held-out list has one- to four-word inputs
    assert cos.min() >= 0.99, sorted(zip(cos.round(5), texts, strict=True))[:5]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="int8 activations: short held-out inputs reach 0.985 "
                   "(docs/architecture.md 'Short inputs')")
def test_minilm_min_cosine_int8_heldout():
    res = run_model("minilm-l6", texts=list(HELDOUT_TEXTS), config=MachineConfig(dim=16),
                    act_bits=8)
    cos = np.array(res.report["accuracy"]["embedding_cosine"])
    assert cos.min() >= 0.99, sorted(zip(cos.round(5), HELDOUT_TEXTS, strict=True))[:5]
