"""Questions about your life (`slmtui eval --qa FILE`): does recall find the document that holds
the answer, does the model answer right with its notes and without them, and does it say it
does not remember when nothing you wrote holds the answer, rather than make one up?

The file is JSON: `{"questions": [{"q": "...", "answer": ["...", ...], "doc": "..."}]}`. A reply
is right when one of `answer` appears in it as whole words, in any case; `doc` is a part of the
path (or, for a chat, of its export file's path) of the document that holds the answer, and a
question is a recall hit when a note from it is among those given. A question with no `answer`
is answered in no document: its right reply declines.

Each model answers every question twice, with recall's notes (as chat sends them) and without,
under the system prompt training used; answers are cached like every evaluation answer. Shares
come with bootstrap intervals over the questions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from slmtui.chat.engine import ChatTarget
from slmtui.config import Config
from slmtui.eval.generations import GenerationSettings, generate
from slmtui.eval.heldout import EvalPrompt
from slmtui.eval.intervals import Interval, mean_interval
from slmtui.recall.notes import Recaller, with_notes
from slmtui.recall.search import Recalled
from slmtui.workspace import Workspace

ANSWER_TOKENS = 48  # room for an answer and a sentence around it
DECLINE = re.compile(
    r"\b(?:i\s+(?:do\s+not|don't|dont|can't|cannot|can\s+not)\s+(?:remember|recall|know|say|tell)"
    r"|i(?:'m|\s+am)\s+not\s+sure|no\s+idea|i\s+(?:do\s+not|don't)\s+have\s+(?:a|an|any)\b"
    r"|i\s+have\s+(?:no|never\s+had)\b|i\s+never\s+had\b|not\s+that\s+i\s+(?:remember|recall)"
    r"|i\s+(?:do\s+not|don't)\s+own\b)",
    re.IGNORECASE,
)

Step = Callable[[str], Callable[[int, int], None] | None]


class QAError(ValueError):
    """The questions file cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Question:
    text: str
    answers: tuple[str, ...]  # empty: no document holds the answer
    doc: str  # a part of the path of the document that holds it ("" when none does)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path) -> list[Question]:
    """The questions of a QA file, checked, with what is wrong said by question number."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise QAError(f"No questions file at {path}.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QAError(f"{path} is not a JSON file slmtui can read: {exc}") from exc
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise QAError(f'{path} needs a "questions" list: {{"questions": [{{"q": ..., ...}}]}}.')
    questions = []
    for number, item in enumerate(items, 1):
        where = f"{path}, question {number}"
        if not isinstance(item, dict) or not isinstance(item.get("q"), str) or not item["q"]:
            raise QAError(f'{where}: each question needs its text as "q".')
        answers = item.get("answer", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
            raise QAError(f'{where}: "answer" is a list of strings (empty: answered nowhere).')
        doc = item.get("doc", "")
        if answers and (not isinstance(doc, str) or not doc):
            raise QAError(f'{where}: an answerable question names its document as "doc".')
        questions.append(Question(item["q"], tuple(answers), doc if answers else ""))
    return questions


def is_right(reply: str, answers: tuple[str, ...]) -> bool:
    """One of the answers is in the reply as whole words, in any case."""
    return any(
        re.search(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", reply, re.IGNORECASE)
        for answer in answers
    )


def declines(reply: str) -> bool:
    """The reply says it does not remember or know (and so gives no answer)."""
    return DECLINE.search(reply) is not None


def is_hit(question: Question, found: list[Recalled]) -> bool:
    return any(question.doc in item.path or question.doc in item.source for item in found)


@dataclass(frozen=True)
class Outcomes:
    """One model's replies in one condition, scored question by question."""

    right: list[bool]  # answerable questions: the answer is in the reply
    declined: list[bool]  # answerable questions: it said it does not remember
    invented: list[bool]  # unanswerable questions: it answered anyway
    abstained: list[bool]  # unanswerable questions: it declined

    def as_dict(self) -> dict:
        return {
            "accuracy": _mean(self.right),
            "accuracy_interval": mean_interval(self.right).as_list(),
            "declined": _mean(self.declined),
            "wrong": _mean(
                [not r and not d for r, d in zip(self.right, self.declined, strict=True)]
            ),
            "declined_unanswerable": _mean(self.abstained),
            "declined_unanswerable_interval": mean_interval(self.abstained).as_list(),
            "invented_unanswerable": _mean(self.invented),
        }


def _mean(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")


def outcomes(questions: list[Question], replies: list[str]) -> Outcomes:
    right, declined, invented, abstained = [], [], [], []
    for question, reply in zip(questions, replies, strict=True):
        said_no = declines(reply)
        if question.answerable:
            right.append(is_right(reply, question.answers))
            declined.append(said_no and not right[-1])
        else:
            abstained.append(said_no)
            invented.append(not said_no)
    return Outcomes(right, declined, invented, abstained)


@dataclass
class QAScore:
    questions: int
    answerable: int
    passages: int  # k: notes given per question at most
    hits: list[bool]  # answerable questions: a note from their document was given
    models: dict[str, dict[str, Outcomes]]  # role -> "with recall" / "without" -> outcomes
    samples: list[dict]

    @property
    def hit_rate(self) -> float:
        return _mean(self.hits)

    @property
    def hit_interval(self) -> Interval:
        return mean_interval(self.hits)

    def as_dict(self) -> dict:
        return {
            "questions": self.questions,
            "answerable": self.answerable,
            "unanswerable": self.questions - self.answerable,
            "k": self.passages,
            "hit_at_k": self.hit_rate,
            "hit_at_k_interval": self.hit_interval.as_list(),
            "models": {
                role: {condition: o.as_dict() for condition, o in conditions.items()}
                for role, conditions in self.models.items()
            },
            "samples": self.samples,
        }


def _prompt(question: Question, messages: list[dict]) -> EvalPrompt:
    key = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()
    return EvalPrompt(key, question.text, "", "reply", tuple(messages))


def score_questions(
    workspace: Workspace,
    config: Config,
    path: Path,
    models: list[tuple[str, ChatTarget]],
    settings: GenerationSettings,
    step: Step,
) -> QAScore:
    """Every model's answers to the questions with and without recall, and recall's hits."""
    questions = load_questions(path)
    recaller = Recaller(workspace.db_path, config.recall)
    system = (
        [{"role": "system", "content": settings.system_prompt}] if settings.system_prompt else []
    )
    asked = [[*system, {"role": "user", "content": q.text}] for q in questions]
    found = [recaller.recall(messages) for messages in asked]
    noted = [with_notes(messages, notes) for messages, notes in zip(asked, found, strict=True)]
    conditions = {
        "with recall": [_prompt(q, m) for q, m in zip(questions, noted, strict=True)],
        "without": [_prompt(q, m) for q, m in zip(questions, asked, strict=True)],
    }
    short = replace(settings, min_reply_tokens=ANSWER_TOKENS, max_reply_tokens=ANSWER_TOKENS)
    scored: dict[str, dict[str, Outcomes]] = {}
    replies: dict[tuple[str, str], list[str]] = {}
    for role, target in models:
        scored[role] = {}
        for condition, prompts in conditions.items():
            what = f"questions: {target.label}, {condition}"
            replies[role, condition] = generate(target, prompts, workspace.cache, short, step(what))
            scored[role][condition] = outcomes(questions, replies[role, condition])
    hits = [is_hit(q, f) for q, f in zip(questions, found, strict=True) if q.answerable]
    samples = []
    for i, q in enumerate(questions):
        sample = {"q": q.text, "answer": list(q.answers), "doc": q.doc,
                  "sources": [item.label for item in found[i]]}  # fmt: skip
        for (role, condition), answers in replies.items():
            sample[f"{role} {condition}"] = answers[i]
        samples.append(sample)
    return QAScore(
        questions=len(questions),
        answerable=sum(q.answerable for q in questions),
        passages=config.recall.passages,
        hits=hits,
        models=scored,
        samples=samples,
    )
