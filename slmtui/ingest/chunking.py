"""Split normalised text into chunks of about a target number of base-model tokens.

Chunks follow the author's own structure: whole paragraphs are packed together until the next one
would pass the target; a paragraph longer than the target is split between sentences, and only a
sentence longer than the target is cut between tokens. Each paragraph is tokenized once (in a
batch), so a chunk's token count is the sum of its pieces plus one token per paragraph break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenizers import Tokenizer

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9À-ÖØ-Þ])")


@dataclass(frozen=True)
class Chunk:
    text: str
    tokens: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class _Piece:
    text: str
    ids: tuple[int, ...]
    paragraph: int


def split_sentences(paragraph: str) -> list[str]:
    """Sentences by terminal punctuation followed by a capital; good enough to pick cut points."""
    return [part for part in _SENTENCE_END.split(paragraph) if part.strip()]


def paragraphs_of(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def chunk_text(text: str, tokenizer: Tokenizer, target: int, min_tokens: int = 1) -> list[Chunk]:
    """Chunks of at most `target` tokens (by our count) on paragraph and sentence boundaries."""
    paragraphs = paragraphs_of(text)
    return chunk_paragraphs(
        paragraphs, encode_paragraphs(paragraphs, tokenizer), tokenizer, target, min_tokens
    )


def encode_paragraphs(paragraphs: list[str], tokenizer: Tokenizer) -> list[list[int]]:
    """Token ids per paragraph, in one call so the tokenizer can use every core.

    The fast variant skips character offsets, which only overlong sentences need.
    """
    if not paragraphs:
        return []
    return [e.ids for e in tokenizer.encode_batch_fast(paragraphs, add_special_tokens=False)]


def chunk_paragraphs(
    paragraphs: list[str],
    paragraph_ids: list[list[int]],
    tokenizer: Tokenizer,
    target: int,
    min_tokens: int = 1,
) -> list[Chunk]:
    """chunk_text for paragraphs already tokenized (ingest encodes many files in one call)."""
    pieces: list[_Piece] = []
    for index, (paragraph, ids) in enumerate(zip(paragraphs, paragraph_ids, strict=True)):
        if len(ids) <= target:
            pieces.append(_Piece(paragraph, tuple(ids), index))
        else:
            pieces.extend(_split_long(paragraph, index, tokenizer, target))
    chunks = _pack(pieces, target)
    if len(chunks) > 1 and chunks[-1].tokens < min_tokens:
        tail = chunks.pop()
        last = chunks.pop()
        chunks.append(
            Chunk(f"{last.text}\n\n{tail.text}", last.tokens + tail.tokens + 1, last.ids + tail.ids)
        )
    return [chunk for chunk in chunks if chunk.tokens >= min_tokens]


def _split_long(paragraph: str, index: int, tokenizer: Tokenizer, target: int) -> list[_Piece]:
    sentences = split_sentences(paragraph)
    pieces = []
    for sentence, encoding in zip(
        sentences, tokenizer.encode_batch(sentences, add_special_tokens=False), strict=True
    ):
        ids = encoding.ids
        if len(ids) <= target:
            pieces.append(_Piece(sentence, tuple(ids), index))
            continue
        for start in range(0, len(ids), target):
            window = encoding.offsets[start : start + target]
            begin, end = window[0][0], window[-1][1]
            if start + target >= len(ids):
                end = len(sentence)
            pieces.append(
                _Piece(sentence[begin:end].strip(), tuple(ids[start : start + target]), index)
            )
    return pieces


def _pack(pieces: list[_Piece], target: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    texts: list[str] = []
    ids: list[int] = []
    tokens = 0
    previous: _Piece | None = None
    for piece in pieces:
        joiner_cost = 0 if previous is None else (1 if previous.paragraph != piece.paragraph else 0)
        if texts and tokens + joiner_cost + len(piece.ids) > target:
            chunks.append(Chunk("".join(texts), tokens, tuple(ids)))
            texts, ids, tokens, previous, joiner_cost = [], [], 0, None, 0
        if previous is not None:
            texts.append("\n\n" if previous.paragraph != piece.paragraph else " ")
        texts.append(piece.text)
        ids.extend(piece.ids)
        tokens += joiner_cost + len(piece.ids)
        previous = piece
    if texts:
        chunks.append(Chunk("".join(texts), tokens, tuple(ids)))
    return chunks
