from slmtui.ingest.chunking import chunk_text, split_sentences


def test_paragraphs_are_packed_up_to_the_target(tokenizer):
    paragraphs = [f"Paragraph number {i} is about the tide and the bees." for i in range(30)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, tokenizer, target=64)
    assert len(chunks) > 1
    assert all(chunk.tokens <= 64 for chunk in chunks)
    # Nothing is lost or reordered, and chunks break between paragraphs.
    assert "\n\n".join(chunk.text for chunk in chunks) == text
    # Counts are the tokenizer's own, plus one token per paragraph break.
    for chunk in chunks:
        parts = chunk.text.split("\n\n")
        ids = sum(len(tokenizer.encode(part, add_special_tokens=False).ids) for part in parts)
        assert chunk.tokens == ids + len(parts) - 1
        assert len(chunk.ids) == ids


def test_long_paragraph_splits_between_sentences(tokenizer):
    sentences = [f"Sentence {i} says the ferry was late again." for i in range(40)]
    paragraph = " ".join(sentences)
    chunks = chunk_text(paragraph, tokenizer, target=50)
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.tokens <= 50
        assert chunk.text.endswith(".")
    assert " ".join(chunk.text for chunk in chunks) == paragraph


def test_overlong_sentence_is_cut_between_tokens(tokenizer):
    sentence = "word " * 300
    chunks = chunk_text(sentence.strip(), tokenizer, target=100)
    assert [chunk.tokens for chunk in chunks] == [100, 100, 100]
    assert "".join(chunk.text.replace(" ", "") for chunk in chunks) == "word" * 300


def test_short_tail_joins_the_previous_chunk_and_tiny_texts_are_dropped(tokenizer):
    text = "\n\n".join(["A paragraph of some length about engines and bearings."] * 5 + ["Tail."])
    chunks = chunk_text(text, tokenizer, target=40, min_tokens=5)
    assert chunks[-1].text.endswith("Tail.")
    assert all(chunk.tokens >= 5 for chunk in chunks)
    assert chunk_text("Hi.", tokenizer, target=40, min_tokens=5) == []
    assert chunk_text("   ", tokenizer, target=40) == []


def test_split_sentences():
    assert split_sentences("It rained. Then it stopped! Did it? “Yes,” she said.") == [
        "It rained.",
        "Then it stopped!",
        "Did it?",
        "“Yes,” she said.",
    ]
    assert split_sentences("Mr. smith came at 3.30 today.") == ["Mr. smith came at 3.30 today."]
