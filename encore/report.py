"""Readable text rendering of a run report (the JSON report holds the same numbers)."""

from __future__ import annotations


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def format_report(r: dict) -> str:
    p, a = r["program"], r["accuracy"]
    parts = [
        f"Encore run: {r['model']} ({'real' if r['real_weights'] else 'seeded random'} weights), "
        f"batch {r['batch']} x seq {r['seq_len']}, array {r['dim']}x{r['dim']}",
        "",
        f"Program: {p['instructions']} instructions, "
        f"DRAM image {p['dram_image_bytes'] / 2**20:.1f} MiB "
        f"(of {p['dram_bytes'] / 2**20:.1f} MiB)",
        "  " + ", ".join(f"{k} {v}" for k, v in p["by_opcode"].items()),
        "",
        "Accuracy vs PyTorch FP32 (hidden states, valid tokens):",
        _table([[x["name"], f"{x['cosine']:.5f}", f"{x['token_cosine_min']:.4f}",
                 f"{x['max_abs_err']:.4f}"] for x in a["layers"]],
               ["layer", "cosine", "min token cos", "max abs err"]),
        "",
        "Sentence embedding (mean pool + L2) cosine per input:",
        _table([[str(i), str(inp["tokens"]), f"{c:.5f}",
                 (inp["text"] or "<random ids>")[:60]]
                for i, (inp, c) in enumerate(zip(r["inputs"], a["embedding_cosine"], strict=True))],
               ["#", "tokens", "cosine", "text"]),
        f"min {a['embedding_cosine_min']:.5f}; nearest-neighbour agreement "
        f"{a['nearest_neighbour_agreement'] * 100:.0f}%",
    ]
    if "timing" in r:
        t = r["timing"]
        parts += ["", t["text"]] if t.get("text") else [
            "", f"Timing model: {t['cycles']:,} cycles = {t['latency_ms']:.3f} ms at "
            f"{t['clock_mhz']:g} MHz, MAC utilization {t['utilization']:.3f}"]
    parts += ["", "Wall time: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["wall_s"].items())]
    return "\n".join(parts)
