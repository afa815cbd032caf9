"""Questions about your life: the file, right answers, declines, and the samples' own set, whose
every answer is in the document it names and whose sources recall finds."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest

from slmtui.eval.intervals import mean_interval
from slmtui.eval.qa import (
    QAError,
    Question,
    declines,
    is_hit,
    is_right,
    load_questions,
    outcomes,
)
from slmtui.ingest.store import Store
from slmtui.recall.notes import Recaller
from tests.conftest import SAMPLES

QUESTIONS = SAMPLES / "qa.json"


def test_the_samples_set_has_thirty_answerable_questions_and_some_answered_nowhere():
    questions = load_questions(QUESTIONS)
    answerable = [q for q in questions if q.answerable]
    assert len(answerable) >= 30 and len(questions) - len(answerable) >= 6
    assert all(q.doc for q in answerable) and not any(q.doc for q in questions if not q.answerable)
    assert len({q.text for q in questions}) == len(questions)


@pytest.fixture(scope="module")
def samples_store(tmp_path_factory):
    from slmtui.ingest.ingestor import Ingestor
    from slmtui.workspace import Workspace

    workspace = Workspace.init(tmp_path_factory.mktemp("qa") / "ws")
    shutil.copytree(
        SAMPLES, workspace.writing, dirs_exist_ok=True, ignore=shutil.ignore_patterns("qa.json")
    )
    with Ingestor(workspace, workspace.load_config()) as ingestor:
        ingestor.scan()
    return workspace


def test_every_answer_is_in_the_document_it_names(samples_store):
    with Store(samples_store.db_path) as store:
        for question in load_questions(QUESTIONS):
            if not question.answerable:
                continue
            like = f"%{question.doc}%"
            texts = [row[0] for row in store.db.execute(
                "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.path LIKE ? UNION ALL SELECT m.text FROM messages m JOIN chat_files f "
                "ON f.chat_id = m.chat_id JOIN documents d ON d.id = f.document_id "
                "WHERE d.path LIKE ?", (like, like),
            )]  # fmt: skip
            assert texts, f"no document matches {question.doc!r}"
            assert is_right("\n".join(texts), question.answers), question.text


def test_recall_finds_the_source_of_most_questions(samples_store):
    recaller = Recaller(samples_store.db_path, samples_store.load_config().recall)
    answerable = [q for q in load_questions(QUESTIONS) if q.answerable]
    hits = [is_hit(q, recaller.recall([{"role": "user", "content": q.text}])) for q in answerable]
    # A floor under the measured 4 in 5 (README, "Recall"), so that a change that breaks
    # recall fails here; the figure itself is `slmtui eval --qa`'s to report.
    missed = [q.text for q, hit in zip(answerable, hits, strict=True) if not hit]
    assert sum(hits) / len(hits) >= 0.6, missed


@pytest.mark.parametrize(
    ("reply", "answers", "right"),
    [
        ("It is called the Minister.", ("Minister",), True),
        ("the MINISTER, of course", ("Minister",), True),
        ("They administer it", ("Minister",), False),  # not the whole word
        ("I went fishing", ("fish",), False),
        ("A great steel fish, fifteen feet high", ("fish",), True),
        ("About 63 of us", ("sixty-three", "63"), True),
        ("In 2063", ("63",), False),
    ],
)
def test_an_answer_counts_as_whole_words_in_any_case(reply, answers, right):
    assert is_right(reply, answers) is right


@pytest.mark.parametrize(
    ("reply", "declined"),
    [
        ("I don't remember that, I'm afraid.", True),
        ("I do not know.", True),
        ("I'm not sure I ever had one.", True),
        ("Honestly, no idea.", True),
        ("I never had a horse.", True),
        ("I don't have a cat.", True),
        ("I don't mind the rain at all.", False),
        ("Her name was Agnes.", False),
    ],
)
def test_a_decline_says_it_does_not_remember(reply, declined):
    assert declines(reply) is declined


def test_outcomes_count_right_declined_wrong_and_invented():
    questions = [
        Question("dog?", ("Bosun",), "journal"),
        Question("cake?", ("Teague",), "journal"),
        Question("heron?", ("Minister",), "journal"),
        Question("boat name?", (), ""),
        Question("cat?", (), ""),
    ]
    replies = ["Bosun.", "I don't remember.", "Gerald.", "I never had a boat.", "Admiral."]
    scored = outcomes(questions, replies).as_dict()
    assert scored["accuracy"] == pytest.approx(1 / 3)
    assert scored["declined"] == pytest.approx(1 / 3) and scored["wrong"] == pytest.approx(1 / 3)
    assert scored["declined_unanswerable"] == 0.5 and scored["invented_unanswerable"] == 0.5
    low, high = scored["accuracy_interval"]
    assert 0 <= low <= 1 / 3 <= high <= 1


def test_a_share_interval_is_around_the_share_and_empty_without_items():
    interval = mean_interval([1, 0] * 20)
    assert interval.low < 0.5 < interval.high and interval.high - interval.low < 0.4
    assert math.isnan(mean_interval([]).low)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "not a JSON file"),
        ('{"questions": []}', '"questions" list'),
        ('{"questions": [{"answer": ["x"]}]}', 'question 1: each question needs its text as "q"'),
        ('{"questions": [{"q": "x", "answer": "Bosun", "doc": "j"}]}', '"answer" is a list'),
        ('{"questions": [{"q": "x", "answer": ["Bosun"]}]}', 'names its document as "doc"'),
    ],
)
def test_a_bad_file_says_what_to_fix(tmp_path, content, said):
    path = tmp_path / "qa.json"
    path.write_text(content)
    with pytest.raises(QAError, match=re.escape(said)):
        load_questions(path)
    with pytest.raises(QAError, match="No questions file"):
        load_questions(tmp_path / "missing.json")


def test_a_question_answered_nowhere_keeps_no_document(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps({"questions": [{"q": "boat?", "answer": [], "doc": "x"}]}))
    assert load_questions(path) == [Question("boat?", (), "")]
