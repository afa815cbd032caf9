"""An evaluation for people: a few lines for the terminal, and one HTML file to keep.

The HTML file stands alone (inline SVG charts, no scripts, no network), so it can be mailed,
archived next to the model, or opened years later. Charts are drawn here as plain SVG bars: the
report needs a handful of grouped bar charts, not a plotting library.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from slmtui.eval.characteristic_words import rate_per_1000
from slmtui.eval.evaluate import SHIFTS_SHOWN, EvalResult, ModelScore
from slmtui.eval.intervals import ppl_interval
from slmtui.eval.stylometry import FUNCTION_WORDS, PUNCTUATION_NAMES, feature_label
from slmtui.files import write_text_atomic
from slmtui.formats import format_percent_lower

REPORT_NAME = "eval.html"
COLOURS = {"author": "#4a4a4a", "base": "#c0843d", "previous": "#8c6bb1", "tuned": "#2a7ab0"}
SENTENCE_BINS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, 30), (31, 40), (41, 10_000))

GROUP_NAMES = {
    "fw": "function words",
    "punct": "punctuation",
    "len": "sentence and paragraph length",
    "rich": "vocabulary richness",
    "habit": "habits (I-starts, capitals, contractions)",
}


def models_of(result: EvalResult) -> list[ModelScore]:
    return [result.base] + ([result.previous] if result.previous else []) + [result.tuned]


def describe(result: EvalResult) -> str:
    """The summary a terminal shows: perplexity and style distance per model, and what moved."""
    lines = [
        f"Evaluated {result.tuned.label} on {result.heldout_texts} held-out passages "
        f"({result.tuned.perplexity.tokens:,} tokens) and {len(result.prompts)} requests, "
        f"in {result.seconds:.0f} s.",
        "",
        f"  {'model':<32} {'perplexity':>10} {'style distance':>15} {'read as you':>12}",
    ]
    for model in models_of(result):
        lines.append(
            f"  {model.role + ': ' + model.label:<32} {model.perplexity.ppl:>10.2f} "
            f"{model.distance:>15.2f} {model.author_share:>12.0%}"
        )
    change = format_percent_lower(result.base.perplexity.ppl, result.tuned.perplexity.ppl)
    low, high = result.ppl_change_interval.low, result.ppl_change_interval.high
    ratio_low, ratio_high = result.distance_ratio_interval.low, result.distance_ratio_interval.high
    margin = result.verifier_margin_interval
    lines += [
        "",
        f"Perplexity {change} than the base (95% interval: {_percent_change(low)} to "
        f"{_percent_change(high)})",
        f"Style distance to your writing: {result.distance_ratio:.2f}x the base model's "
        f"(95% interval {ratio_low:.2f}x to {ratio_high:.2f}x; lower is closer, 0 would be "
        "indistinguishable on these measures)",
        f"Read as yours by the verifier: {result.tuned.author_share:.0%} of the tuned model's "
        f"answers, {result.base.author_share:.0%} of the base's (margin "
        f"{100 * result.verifier_margin:+.0f} points, 95% interval {100 * margin.low:+.0f} to "
        f"{100 * margin.high:+.0f}); your own held-out writing: "
        f"{result.author_reference_share:.0%} (it tells your writing from the base's "
        f"{result.verifier_accuracy:.0%} of the time, cross-validated)",
    ]
    closer = [shift for shift in result.shifts if shift.improvement > 0][: SHIFTS_SHOWN // 2]
    away = [shift for shift in result.shifts if shift.improvement < 0][:2]
    if closer:
        lines.append("Moved toward you: " + ", ".join(_shift_words(s) for s in closer))
    if away:
        lines.append("Moved away: " + ", ".join(_shift_words(s) for s in away))
    if result.words:
        words = ", ".join(word.word for word in result.words[:10])
        lines.append(
            f"Your words ({words}): base {result.base.author_words_per_1000:.1f}, tuned "
            f"{result.tuned.author_words_per_1000:.1f} per 1000 words"
        )
    if result.conversations is not None:
        lines += ["", *conversation_lines(result.conversations)]
    if result.qa is not None:
        lines += ["", *qa_lines(result.qa)]
    if result.privacy is not None:
        lines += ["", *privacy_lines(result.privacy)]
    if result.blind is not None and result.blind.rounds:
        lines += ["", f"Blind test (your own verdict): {result.blind.words()}."]
    return "\n".join(lines)


PERSONAL_WORDS = {
    "phones": "phone numbers", "emails": "e-mail addresses", "addresses": "street addresses",
    "names": "names of other people in your chats",
}  # fmt: skip


def privacy_lines(privacy) -> list[str]:
    """What the tuned model might repeat, against the base (privacy: a PrivacyScore)."""
    tuned, base = privacy.tuned, privacy.base
    longest = f', the longest {tuned.longest} words ("{tuned.example}")' if tuned.longest else ""
    found = ", ".join(
        f"{privacy.tuned_found.counts.get(kind, 0)} {words} "
        f"(base {privacy.base_found.counts.get(kind, 0)})"
        for kind, words in PERSONAL_WORDS.items()
    )
    lines = [
        "What it might repeat:",
        f"  {tuned.share:.1%} of its 8-word runs are your training text word for word (the "
        f"base: {base.share:.1%}){longest}",
        f"  in what it wrote: {found}",
    ]
    for kind, examples in privacy.tuned_found.examples.items():
        if kind != "names":
            lines.append(f"  {PERSONAL_WORDS[kind]}: {', '.join(examples)}")
    return lines


def qa_lines(qa) -> list[str]:
    """Questions about your life in words (qa: a QAScore)."""
    hit = qa.hit_interval
    lines = [
        f"Questions about your life ({qa.answerable} answered in your writing, "
        f"{qa.questions - qa.answerable} in none of it):",
        f"  recall found the source for {qa.hit_rate:.0%} of them among {qa.passages} notes "
        f"(95% interval {hit.low:.0%} to {hit.high:.0%})",
    ]
    for role, conditions in qa.models.items():
        for condition, outcome in conditions.items():
            shares = outcome.as_dict()
            low, high = shares["accuracy_interval"]
            lines.append(
                f"  {role}, {condition}: {shares['accuracy']:.0%} right ({low:.0%} to {high:.0%}),"
                f" {shares['declined']:.0%} said they do not remember, {shares['wrong']:.0%} wrong;"
                f" where nothing you wrote holds the answer, {shares['declined_unanswerable']:.0%}"
                f" declined and {shares['invented_unanswerable']:.0%} made one up"
            )
    return lines


def conversation_lines(chats) -> list[str]:
    """The held-out conversations in words (chats: a ConversationScore)."""
    low, high = chats.ppl_change_interval.low, chats.ppl_change_interval.high
    ratio = chats.distance_ratio_interval
    return [
        f"Your conversations ({chats.replies} held-out replies, {chats.asked} answered):",
        f"  perplexity on your replies {chats.base.ppl:.2f} (base) -> {chats.tuned.ppl:.2f}, "
        f"{_percent_change(chats.ppl_change)} (95% interval {_percent_change(low)} to "
        f"{_percent_change(high)})",
        f"  style of its replies: {chats.distance_ratio:.2f}x the base's distance to yours "
        f"(95% interval {ratio.low:.2f}x to {ratio.high:.2f}x; as many replies of your own: "
        f"{chats.distance_ratio_yours:.2f}x, the closest any model can come)",
        f"  read as yours: {chats.author_share_tuned:.0%} of its replies, "
        f"{chats.author_share_base:.0%} of the base's, {chats.author_share_yours:.0%} of your own",
        f"  length: {chats.words_tuned:.1f} words a reply, the base's {chats.words_base:.1f}, "
        f"yours {chats.words_yours:.1f} (in all your training replies {chats.words_trained:.1f})",
        f"  speaking for someone else (a line in another person's name): "
        f"{chats.for_others_tuned:.0%} of its replies, {chats.for_others_base:.0%} of the base's",
    ]


def _interval_text(model) -> str:
    interval = ppl_interval(model.perplexity.per_text)
    return f"{interval.low:.2f}–{interval.high:.2f}"


def _percent_change(change: float) -> str:
    """-0.31 -> '31% lower', 0.05 -> '5% higher'."""
    return f"{abs(100 * change):.0f}% {'lower' if change < 0 else 'higher'}"


def _shift_words(shift) -> str:
    label = feature_label(shift.name)
    return f"{label} ({shift.base:.1f} → {shift.tuned:.1f}, you {shift.author:.1f})"


# -- HTML -------------------------------------------------------------------------------------


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]], unit: str = "") -> str:
    """Grouped horizontal bars: one group per label, one bar per series (author, base, ...)."""
    bar, gap, left, width = 9, 8, 190, 360
    names = list(series)
    peak = max((v for values in series.values() for v in values), default=0.0) or 1.0
    group_height = bar * len(names) + gap
    height = 30 + group_height * len(labels) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" height="{height}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>',
    ]
    for row, label in enumerate(labels):
        y0 = 30 + row * group_height
        parts.append(
            f'<text x="{left - 6}" y="{y0 + bar * len(names) / 2 + 4}" text-anchor="end" '
            f'font-size="12">{html.escape(label)}</text>'
        )
        for column, name in enumerate(names):
            value = series[name][row]
            y = y0 + column * bar
            length = width * value / peak
            parts.append(
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar - 1}" '
                f'fill="{COLOURS.get(name, "#777")}"><title>{html.escape(name)}: '
                f"{value:.2f}{unit}</title></rect>"
            )
            parts.append(
                f'<text x="{left + length + 4:.1f}" y="{y + bar - 1}" font-size="9">'
                f"{value:.1f}</text>"
            )
    legend_y = height - 8
    for index, name in enumerate(names):
        x = left + index * 90
        parts.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" '
            f'fill="{COLOURS.get(name, "#777")}"/>'
            f'<text x="{x + 14}" y="{legend_y}" font-size="12">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def sentence_shares(lengths: list[int]) -> list[float]:
    """Percent of sentences in each length bin."""
    total = len(lengths) or 1
    return [100 * sum(lo <= n <= hi for n in lengths) / total for lo, hi in SENTENCE_BINS]


def _bin_label(lo: int, hi: int) -> str:
    return f"{lo}+ words" if hi >= 10_000 else f"{lo}–{hi} words"


def render_html(result: EvalResult) -> str:
    """The whole report page: summary tables, charts, what moved, words, samples side by side."""
    models = models_of(result)
    esc = html.escape
    summary_rows = "".join(
        f"<tr><td>{esc(model.role)}</td><td>{esc(model.label)}</td>"
        f"<td>{model.perplexity.ppl:.2f} ({_interval_text(model)})</td>"
        f"<td>{model.distance:.2f}</td><td>{model.author_share:.0%}</td>"
        f"<td>{model.author_words_per_1000:.1f}</td></tr>"
        for model in models
    )
    groups = "".join(
        f"<tr><td>{esc(GROUP_NAMES.get(group, group))}</td>"
        + "".join(f"<td>{model.group_distances.get(group, 0.0):.2f}</td>" for model in models)
        + "</tr>"
        for group in result.tuned.group_distances
    )
    charts = report_charts(result, models)
    shift_rows, word_rows = shift_and_word_rows(result)
    samples = side_by_side(result, models)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result.created))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>slmtui evaluation: {esc(result.tuned.label)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; }}
pre {{ white-space: pre-wrap; font-family: inherit; background: #f6f6f6; padding: 8px; }}
.cols {{ display: grid; grid-template-columns: repeat({len(models) + 1}, 1fr); gap: 10px; }}
svg {{ margin: 1em 0; font-family: system-ui, sans-serif; }}
</style></head><body>
<h1>Does {esc(result.tuned.label)} write like you?</h1>
<p>{when}. {result.heldout_texts} passages of your writing that training never saw
({result.tuned.perplexity.tokens:,} tokens); each model answered {len(result.prompts)}
requests built from them (“continue this in my voice”, and “write about …” requests of the
kind training teaches).</p>
<p><b>Perplexity:</b> {result.base.perplexity.ppl:.2f} (base) → {result.tuned.perplexity.ppl:.2f}
({100 * result.ppl_change:+.0f}%; 95% interval {100 * result.ppl_change_interval.low:+.0f}% to
{100 * result.ppl_change_interval.high:+.0f}%). <b>Style distance:</b> {result.base.distance:.2f}
(base) → {result.tuned.distance:.2f}, {result.distance_ratio:.2f}x the base's (95% interval
{result.distance_ratio_interval.low:.2f}x to {result.distance_ratio_interval.high:.2f}x).
<b>Read as yours:</b> {result.tuned.author_share:.0%} of the tuned model's answers,
{result.base.author_share:.0%} of the base's, {result.author_reference_share:.0%} of your own
held-out writing (a character n-gram verifier fitted on your training text against the base
model's writing; margin 95% interval {100 * result.verifier_margin_interval.low:+.0f} to
{100 * result.verifier_margin_interval.high:+.0f} points).</p>
<p>Intervals resample the held-out passages (perplexity) or the requests (style, verifier) and
keep the middle 95%: a gain whose interval spans zero may be noise.</p>
<table><tr><th>role</th><th>model</th><th>perplexity (95% interval)</th><th>style distance</th>
<th>read as yours</th><th>your words per 1000</th></tr>{summary_rows}</table>
<p>The style distance averages, over five groups of measures, how far each measure sits from
yours in units of how much it varies between your own passages (about 1: as different as your
passages are from one another).</p>
<table><tr><th>group</th>{"".join(f"<th>{esc(m.role)}</th>" for m in models)}</tr>{groups}</table>
{"".join(charts)}
<h2>What moved</h2>
<table><tr><th>measure</th><th>you</th><th>base</th><th>tuned</th><th></th></tr>{shift_rows}</table>
<h2>Your characteristic words</h2>
<p>Words you use more than the base model does (log-odds with an informative prior), per 1000
words.</p>
<table><tr><th>word</th><th>you</th><th>base</th><th>tuned</th></tr>{word_rows}</table>
<h2>Side by side</h2>{samples}
{conversation_html(result)}
{qa_html(result)}
{privacy_html(result)}
{blind_html(result)}
</body></html>
"""


def report_charts(result: EvalResult, models: list[ModelScore]) -> list[str]:
    """Perplexity, style distance, sentence lengths, punctuation and function words as bars."""
    series_names = ["author"] + [model.role for model in models]
    profiles = {"author": result.author} | {model.role: model.profile for model in models}
    top_function_words = sorted(FUNCTION_WORDS, key=lambda w: -result.author.function_words[w])[:15]

    def per_series(values) -> dict[str, list[float]]:
        return {name: values(profiles[name]) for name in series_names}

    roles = [model.role for model in models]
    return [
        bar_chart(
            "Perplexity on your held-out writing (lower is better)",
            roles,
            {"value": [model.perplexity.ppl for model in models]},
        ),
        bar_chart(
            "Style distance to your writing (lower is closer)",
            roles,
            {"value": [model.distance for model in models]},
        ),
        bar_chart(
            "Sentence length (% of sentences)",
            [_bin_label(lo, hi) for lo, hi in SENTENCE_BINS],
            per_series(lambda profile: sentence_shares(profile.sentence_lengths)),
            "%",
        ),
        bar_chart(
            "Punctuation per 1000 words",
            [name.replace("_", " ") for name in PUNCTUATION_NAMES],
            per_series(lambda profile: [profile.punctuation[p] for p in PUNCTUATION_NAMES]),
        ),
        bar_chart(
            "Your 15 most used function words, per 1000 words",
            list(top_function_words),
            per_series(lambda profile: [profile.function_words[w] for w in top_function_words]),
        ),
    ]


def shift_and_word_rows(result: EvalResult) -> tuple[str, str]:
    """Table rows: the measures that moved most, and the author's characteristic words."""
    esc = html.escape
    shifts = [s for s in result.shifts if s.improvement > 0][:SHIFTS_SHOWN] + [
        s for s in result.shifts if s.improvement < 0
    ][: SHIFTS_SHOWN // 2]
    shift_rows = "".join(
        f"<tr><td>{esc(feature_label(s.name))}</td><td>{s.author:.2f}</td><td>{s.base:.2f}</td>"
        f"<td>{s.tuned:.2f}</td><td>{'closer' if s.moved_closer else 'further'}</td></tr>"
        for s in shifts
    )
    word_rows = "".join(
        f"<tr><td>{esc(w.word)}</td><td>{w.author_per_1000:.1f}</td>"
        f"<td>{w.reference_per_1000:.1f}</td>"
        f"<td>{rate_per_1000(w.word, result.tuned.profile):.1f}</td></tr>"
        for w in result.words
    )
    return shift_rows, word_rows


def side_by_side(result: EvalResult, models: list[ModelScore]) -> str:
    """The first three held-out requests with the author's text and each model's answer."""
    esc = html.escape
    return "".join(
        "<section class='sample'>"
        f"<h3>Request {index + 1}</h3><pre>{esc(prompt['request'])}</pre>"
        f"<div class='cols'><div><h4>You</h4><pre>{esc(prompt['reference'])}</pre></div>"
        + "".join(
            f"<div><h4>{esc(model.role)} ({esc(model.label)})</h4>"
            f"<pre>{esc(model.answers[index])}</pre></div>"
            for model in models
        )
        + "</div></section>"
        for index, prompt in enumerate(result.prompts[:3])
    )


def write_report(result: EvalResult, folder: Path) -> Path:
    return write_text_atomic(Path(folder) / REPORT_NAME, render_html(result))


def blind_html(result: EvalResult) -> str:
    """Your own verdict (the blind test), beside the measures; empty before any round."""
    if result.blind is None or not result.blind.rounds:
        return ""
    words = html.escape(result.blind.words())
    return f"<h2>Which one is yours?</h2><p>In the blind test, {words}.</p>"


def privacy_html(result: EvalResult) -> str:
    """The privacy section."""
    if result.privacy is None:
        return ""
    items = "".join(
        f"<li>{html.escape(line.strip())}</li>" for line in privacy_lines(result.privacy)[1:]
    )
    return f"<h2>What it might repeat</h2><ul>{items}</ul>"


def qa_html(result: EvalResult) -> str:
    """The questions section (empty without --qa)."""
    if result.qa is None:
        return ""
    esc = html.escape
    lines = "".join(f"<li>{esc(line.strip())}</li>" for line in qa_lines(result.qa)[1:])
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(str(cell))}</td>" for cell in (
            sample["q"], ", ".join(sample["answer"]) or "(nowhere)", "; ".join(sample["sources"]),
            sample.get("tuned with recall", ""), sample.get("tuned without", ""),
        )) + "</tr>"
        for sample in result.qa.samples
    )  # fmt: skip
    return (
        f"<h2>Questions about your life</h2><ul>{lines}</ul><table><tr><th>question</th>"
        f"<th>answer</th><th>notes given</th><th>tuned, with recall</th><th>tuned, without</th>"
        f"</tr>{rows}</table>"
    )


def conversation_html(result: EvalResult) -> str:
    """The held-out conversations section (empty without chats)."""
    chats = result.conversations
    if chats is None:
        return ""
    esc = html.escape
    lines = "".join(f"<li>{esc(line.strip())}</li>" for line in conversation_lines(chats)[1:])
    samples = "".join(
        f"<h3>{esc(sample['request'][:120])}</h3><div class='cols'>"
        f"<div><b>you</b><pre>{esc(sample['reference'])}</pre></div>"
        f"<div><b>base</b><pre>{esc(sample['base'])}</pre></div>"
        f"<div><b>tuned</b><pre>{esc(sample['tuned'])}</pre></div></div>"
        for sample in chats.samples
    )
    return (
        f"<h2>Your conversations</h2><p>{chats.replies} replies of yours in conversations "
        f"training never saw; each model answered {chats.asked} of their requests.</p>"
        f"<ul>{lines}</ul>{samples}"
    )
