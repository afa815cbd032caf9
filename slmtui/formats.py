"""How numbers are shown to a person: durations, sizes and perplexity changes.

The CLI, the app, the model card and the evaluation report all show the same quantities; they
format them here, so a figure reads the same wherever it appears.
"""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """'42s', '3m05s' or '1h02m'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(size_bytes: int) -> str:
    """'257.3 MiB'."""
    return f"{size_bytes / 2**20:,.1f} MiB"


def format_gigabytes(size_bytes: int) -> str:
    """'11.4 GB' (GiB, as memory is counted), for what a base needs to train."""
    return f"{size_bytes / 2**30:.1f} GB"


def format_ppl_change(base: float | None, tuned: float | None, arrow: str = "→") -> str:
    """'12.30 → 8.10' (base to tuned), or a dash when either is missing."""
    if base is None or tuned is None:
        return "—"
    return f"{base:.2f} {arrow} {tuned:.2f}"


def format_percent_lower(base: float, tuned: float) -> str:
    """'36% lower' or '4% higher': how tuned compares with base."""
    change = 100 * (1 - tuned / base)
    return f"{change:.0f}% lower" if change >= 0 else f"{-change:.0f}% higher"


def card_ppl_change(card: dict, arrow: str = "→") -> str:
    """The perplexity change recorded in a model version's card (its `metrics`)."""
    metrics = card.get("metrics") or {}
    return format_ppl_change(metrics.get("val_ppl_base"), metrics.get("val_ppl"), arrow)


def quant_cost_words(cost: dict) -> str:
    """'ppl +0.42%, KL 0.0031, top-1 97.8%': a quantization's cost against F16."""
    return f"ppl {cost['ppl_change']:+.2f}%, KL {cost['kl']:.4f}, top-1 {cost['top1']:.1%}"


def card_quant_cost(card: dict) -> str:
    """What the file chat uses cost against F16, from a version's card: 'exact' for F16, '—'
    for versions published before quantizations were measured."""
    if card.get("quant") == "F16":
        return "exact"
    chat_file = next((f for f in card.get("files") or [] if f["gguf"] == card.get("gguf")), {})
    cost = chat_file.get("cost")
    return f"ppl {cost['ppl_change']:+.2f}%, KL {cost['kl']:.4f}" if cost else "—"
