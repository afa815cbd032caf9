"""The Models screen's evaluation panel: how the selected version scores against the base.

It renders the `eval.json` that `slmtui eval` leaves beside a version, in a few lines that fit
80 columns: perplexity and style distance, base against tuned (and the previous version), and
the measures that moved most toward the author; and the blind test's score from its card.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from slmtui.eval.blind import BlindScore
from slmtui.eval.stylometry import feature_label
from slmtui.formats import format_ppl_change

MOVES_SHOWN = 3


def blind_line(card: dict) -> Text:
    """The blind test's score kept in a version's card, in words ('' before any round)."""
    score = BlindScore.from_card(card)
    if not score.rounds:
        return Text("")
    text = Text("\nblind test  ")
    text.append(score.words())
    return text


def summary_lines(label: str, result: dict | None, eval_key: str, card: dict | None = None) -> Text:
    """Rich text for one version's saved evaluation (or a hint how to make one), and the blind
    test's score from its card."""
    blind = blind_line(card or {})
    if result is None:
        return Text(
            f"{label}: not evaluated yet; {eval_key} measures how close it writes to you."
        ).append_text(blind)
    summary = result["summary"]
    age = _age(time.time() - float(result.get("created", time.time())))
    held = result.get("heldout", {})
    text = Text()
    text.append(f"{label}", style="bold")
    text.append(
        f" · {held.get('texts', 0)} held-out passages, {held.get('prompts', 0)} requests · {age}\n"
    )
    change = 100 * summary["ppl_change"]
    text.append("perplexity  ")
    text.append(f"base {format_ppl_change(summary['val_ppl_base'], summary['val_ppl'])} ")
    text.append(f"({change:+.0f}%", style="green" if change < 0 else "red")
    low, high = summary.get("ppl_change_interval") or (None, None)
    text.append(f", {100 * low:+.0f}…{100 * high:+.0f}%)" if low is not None else ")")
    if summary.get("val_ppl_previous") is not None:
        text.append(f"   previous {summary['val_ppl_previous']:.2f}")
    ratio = summary["distance_ratio"]
    text.append("\nstyle       ")
    distances = format_ppl_change(summary["style_distance_base"], summary["style_distance"])
    text.append(f"distance to you {distances} ")
    text.append(f"({ratio:.2f}x the base", style="green" if ratio < 1 else "red")
    low, high = summary.get("distance_ratio_interval") or (None, None)
    text.append(f", {low:.2f}…{high:.2f}x)" if low is not None else ")")
    if summary.get("style_distance_previous") is not None:
        text.append(f"   previous {summary['style_distance_previous']:.2f}")
    if summary.get("author_share") is not None:
        margin = 100 * summary["verifier_margin"]
        text.append("\nread as you ")
        text.append(
            f"{summary['author_share']:.0%} of answers (base {summary['author_share_base']:.0%}, "
            f"your own {summary['author_share_reference']:.0%}) "
        )
        text.append(f"{margin:+.0f} points", style="green" if margin > 0 else "red")
    chats = result.get("conversations")
    if chats:
        change = 100 * chats["reply_ppl_change"]
        text.append("\nyour chats ")
        text.append(f"replies {change:+.0f}% ppl", style="green" if change < 0 else "red")
        text.append(f", style {chats['reply_distance_ratio']:.2f}x the base's")
        if chats.get("reply_distance_ratio_yours") is not None:
            text.append(f" (your own {chats['reply_distance_ratio_yours']:.2f}x)")
    qa = result.get("qa")
    if qa:
        tuned = qa["models"]["tuned"]
        text.append("\nquestions ")
        text.append(
            f"{tuned['with recall']['accuracy']:.0%} right with recall, "
            f"{tuned['without']['accuracy']:.0%} without; source found {qa['hit_at_k']:.0%}"
        )
    closer = [s for s in result.get("shifts", []) if s.get("moved_closer")][:MOVES_SHOWN]
    if closer:
        text.append("\ncloser to you: ")
        text.append(", ".join(feature_label(s["name"]) for s in closer))
    return text.append_text(blind)


def _age(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 129600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


class EvalPanel(Static):
    """Shows one version's evaluation; `show()` is called as the selection moves."""

    DEFAULT_CSS = """
    EvalPanel { height: auto; max-height: 8; padding: 0 1; border-top: solid $panel-lighten-2; }
    """

    def show(
        self, label: str, result: dict | None, eval_key: str, card: dict | None = None
    ) -> None:
        self.update(summary_lines(label, result, eval_key, card))

    def progress(self, line: str) -> None:
        self.update(Text(f"evaluating… {line}", style="italic"))
