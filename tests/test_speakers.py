"""Replies in your name only: the names a group chat's request marks, and a reply that would
go on in one of them (while addressing someone, `name: text`, stays yours)."""

from slmtui.chat.speakers import (
    others_in,
    speaker_stops,
    speaks_for_others,
    without_leading_speaker,
)

REQUEST = [
    {"role": "system", "content": "You are Tim."},
    {"role": "user", "content": "[djmoor] 10.\n[duck] dumfric and the kiddie are so funny"},
    {"role": "assistant", "content": "duck: yes"},
    {"role": "user", "content": "[mhwood] did the build pass?\nsee http://ci.example.org/job/1"},
]


def test_the_others_are_the_names_that_open_lines_of_the_requests():
    assert others_in(REQUEST) == ("djmoor", "duck", "mhwood")
    assert others_in([{"role": "user", "content": "what is it about, though?"}]) == ()
    assert others_in([{"role": "user", "content": "mhwood: is it [done]?"}]) == ()
    assert speaker_stops(("duck",)) == ["\n[duck]"]


def test_a_reply_in_someone_elses_name_is_caught_and_its_opening_dropped():
    names = others_in(REQUEST)
    assert speaks_for_others("sure, merging now\n[duck] great", names)
    assert speaks_for_others("[djmoor] 10.", names)
    assert not speaks_for_others("[sure] merging now", names)  # not one of theirs
    # Addressing someone, as people do in IRC and Slack, is your own voice.
    assert not speaks_for_others("duck: yes, merged\nmhwood: thanks", names)
    assert without_leading_speaker("[mhwood] it did", names) == "it did"
    assert without_leading_speaker("mhwood: it did", names) == "mhwood: it did"


class ScriptedLlama:
    """Stands in for llama.cpp's streaming completion: the pieces a model produced, and the
    stop strings it was given (llama.cpp itself ends the stream at one)."""

    def __init__(self, pieces: list[str]):
        self.pieces, self.stop = pieces, None

    def create_chat_completion(self, messages, stop=None, **_):
        self.stop = stop
        chunks = [
            {"choices": [{"delta": {"content": p}, "finish_reason": None}]} for p in self.pieces
        ]
        return _Closing(chunks)

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = True):
        return list(data)


class _Closing(list):
    def __iter__(self):
        return iter(list.__iter__(self))

    def close(self) -> None:
        pass


def test_the_engine_stops_at_their_lines_and_drops_an_opening_in_their_name(tmp_path):
    from slmtui.chat.engine import ChatEngine, ChatTarget

    engine = ChatEngine(ChatTarget("t", tmp_path / "m.gguf"))
    engine._llm = ScriptedLlama(["[djm", "oor]", " 10", ", the ", "build passed"])
    assert "".join(engine.stream(REQUEST)) == "10, the build passed"
    assert engine._llm.stop == ["\n[djmoor]", "\n[duck]", "\n[mhwood]"]
    engine._llm = ScriptedLlama(["duck", ": yes", ", merged"])
    assert "".join(engine.stream(REQUEST)) == "duck: yes, merged"
    engine._llm = ScriptedLlama(["I merged", " it"])
    assert "".join(engine.stream([{"role": "user", "content": "hi"}])) == "I merged it"
    assert engine._llm.stop is None
