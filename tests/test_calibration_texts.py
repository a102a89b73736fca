"""The calibration texts (compiler/calibration.py) are disjoint from every list that measures
accuracy: the built-in texts, the tests' held-out list and the short-input development list of
benchmarks/quant_attribution.py (compared case- and punctuation-insensitively)."""

import sys
from pathlib import Path

from compiler.calibration import EVERYDAY, PHRASES, SENTENCES
from encore.inputs import DEFAULT_TEXTS
from tests.heldout_texts import HELDOUT_TEXTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from quant_attribution import DEV_SHORT  # noqa: E402


def _norm(texts):
    return {t.lower().strip(" ?!.") for t in texts}


def test_natural_calibration_texts_are_not_evaluated():
    calib = _norm(PHRASES + EVERYDAY)
    assert len(calib) == len(PHRASES) + len(EVERYDAY)  # no duplicates
    for name, texts in (("built-in", DEFAULT_TEXTS), ("held-out", HELDOUT_TEXTS),
                        ("dev", DEV_SHORT)):
        assert not calib & _norm(texts), (name, sorted(calib & _norm(texts)))


def test_held_out_list_is_not_calibrated_on():
    assert not _norm(SENTENCES + PHRASES + EVERYDAY) & _norm(HELDOUT_TEXTS)
