"""Which passages and which conversations are held out for validation, decided once, at ingest.

Passages are decided by text, conversations by their messages; both keep about
`validation_fraction` of the tokens aside, from several documents or conversations, and
never move trained text into validation. Conversations are cut here, once, at every silence
longer than `[ingest] conversation_gap_minutes` and wherever the split changes; the cut is
stored with every message, so the dataset, the Library and evaluation read the same
conversations that the split was decided on. When the gap setting changes,
`recut_conversations` cuts every chat again; each message keeps its split, so held-out replies
stay held out and are never learned.
"""

from __future__ import annotations

from slmtui.ingest.dialogue import split_conversations
from slmtui.ingest.store import Store

GAP_META_KEY = "conversation_gap_seconds"


def assign_new_splits(store: Store, fraction: float, min_documents: int = 5) -> int:
    """Decide 'train' or 'val' for every chunk text seen for the first time; returns how
    many went to validation.

    New texts are taken in hash order (random, but the same on every machine). One goes to
    validation while held-out tokens are under `fraction` of all tokens, or, in a corpus of
    at least 10 documents, while fewer than `min_documents` documents have a held-out
    passage and its document has none yet; never when it would take the held-out share
    past twice `fraction` (a corpus of one passage trains on it). A decision is
    remembered by text for good: trained text never becomes validation, and new writing
    never reshuffles old."""
    live = store.live_chunk_splits()
    total = sum(row[2] for row in live)
    held_tokens = sum(row[2] for row in live if row[3] == "val")
    held_documents = {row[4] for row in live if row[3] == "val"}
    documents = len({row[4] for row in live})
    wanted_documents = min_documents if documents >= 10 else 0
    decided: dict[str, str] = {}
    updates: list[tuple[str, int]] = []
    for chunk_id, chunk_hash, tokens, document_id, duplicate_of in store.fresh_chunks():
        split = decided.get(chunk_hash)
        if split is None:
            short_of_tokens = held_tokens < fraction * total
            short_of_documents = (
                len(held_documents) < wanted_documents and document_id not in held_documents
            )
            # Never past twice the share: a corpus of one or two passages trains on them.
            fits = held_tokens + tokens <= 2 * fraction * total
            wanted = short_of_tokens or short_of_documents
            split = "val" if duplicate_of is None and fits and wanted else "train"
            decided[chunk_hash] = split
            if split == "val":
                held_tokens += tokens
                held_documents.add(document_id)
        updates.append((split, chunk_id))
    store.set_chunk_splits(updates)
    store.remember_splits(decided)
    store.summarise_document_splits()
    return sum(split == "val" for split in decided.values())


def assign_message_splits(
    store: Store, fraction: float, gap_seconds: float, min_conversations: int = 5
) -> int:
    """Cut the conversations that hold new messages and decide their split; returns how many
    conversations went to validation.

    New messages that continue a conversation take its split: validation only when every
    message it already had was validation, so trained text never becomes validation; held-out
    messages stay held out, a conversation ending where the split changes (`_cut`). A
    conversation made only of new messages is decided like a passage (`assign_new_splits`):
    in the order of its first message's key, held out while held-out tokens are under
    `fraction` of all message tokens (or, with 10 or more conversations, while fewer than
    `min_conversations` are held out), never past twice the fraction.

    Only the conversations that hold new messages are read: a re-export that adds a day
    costs that day, not the chat's whole history."""
    chat_ids = store.chats_with_new_messages()
    if not chat_ids:
        return 0
    total, held = store.message_tokens()
    conversations = store.conversation_count(None, limit=10)
    held_conversations = store.conversation_count("val")
    fresh: list[tuple[str, list[tuple[int, int]], int]] = []
    updates: list[tuple[str, int, int]] = []
    for chat_id in chat_ids:
        for split, label, rows in _cut(store.rows_from_new(chat_id, gap_seconds), gap_seconds):
            if split == "new":
                tokens = sum(row[3] for row in rows)
                fresh.append((rows[0][4], [(label, row[0]) for row in rows], tokens))
                conversations += 1
                continue
            held += sum(row[3] for row in rows if row[2] == "new" and split == "val")
            updates += [(split, label, row[0]) for row in rows]
    decided_val = 0
    wanted_conversations = min_conversations if conversations >= 10 else 0
    for _, labelled, tokens in sorted(fresh):
        short = held < fraction * total or held_conversations < wanted_conversations
        fits = held + tokens <= 2 * fraction * total
        split = "val" if short and fits else "train"
        if split == "val":
            held += tokens
            held_conversations += 1
            decided_val += 1
        updates += [(split, label, message_id) for label, message_id in labelled]
    store.set_message_splits(updates)
    return decided_val


def recut_conversations(store: Store, gap_seconds: float) -> None:
    """Cut every chat again with a new gap (the setting changed). Every decided message keeps
    its split, so a wider gap joins trained conversations with trained ones and held-out with
    held-out, and ends a conversation where the split changes (`_cut`); messages not yet
    decided stay 'new' for `assign_message_splits`. Remembers the gap it cut with."""
    for chat_id in store.chat_ids():
        updates = []
        for split, label, rows in _cut(store.message_rows(chat_id), gap_seconds):
            updates += [(split if row[2] != "new" else "new", label, row[0]) for row in rows]
        store.set_message_splits(updates)
    store.set_meta(GAP_META_KEY, repr(float(gap_seconds)))


def cut_with(store: Store) -> float | None:
    """The gap the stored conversations were cut with (None in a store that has no record)."""
    value = store.get_meta(GAP_META_KEY)
    return float(value) if value else None


def _cut(rows: list[tuple], gap_seconds: float):
    """(split, label, rows) per conversation of time-ordered (id, time, split, tokens, key)
    rows, labelled by its first message's id.

    A conversation ends at every silence longer than the gap and wherever the decided split
    changes, so it is held out or trained, never both. New messages take the split of what
    they continue: validation only when all of it was held out, else training; a stretch of
    only new messages is 'new', for the caller to decide."""
    for stretch in split_conversations(rows, lambda row: row[1], gap_seconds):
        decided = {row[2] for row in stretch} - {"new"}
        if not decided:
            yield "new", stretch[0][0], stretch
            continue
        fill = "val" if decided == {"val"} else "train"
        runs: list[tuple[str, list[tuple]]] = []
        for row in stretch:
            split = fill if row[2] == "new" else row[2]
            if runs and runs[-1][0] == split:
                runs[-1][1].append(row)
            else:
                runs.append((split, [row]))
        for split, run in runs:
            yield split, run[0][0], run
