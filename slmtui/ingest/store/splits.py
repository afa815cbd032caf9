"""Where the train/validation split lives: per chunk, per remembered text, per message.

These are the reads and writes the split policy (`ingest/split_policy.py`) needs; the policy
decides, this module only stores. The `splits` table remembers a decision by text for good, so
trained text never becomes validation.
"""

from __future__ import annotations

from collections.abc import Iterable


class SplitTables:
    """Split columns of `chunks`, `documents` and `messages`, and the `splits` table (a part
    of `Store`)."""

    # -- passages ---------------------------------------------------------------------------

    def remembered_split(self, chunk_hash: str) -> str:
        """The split this text was given before, or 'new'."""
        row = self.db.execute("SELECT split FROM splits WHERE hash = ?", (chunk_hash,)).fetchone()
        return row[0] if row else "new"

    def live_chunk_splits(self) -> list[tuple[int, str, int, str, int]]:
        """(id, hash, tokens, split, document id) of every chunk that is not a duplicate."""
        return self.db.execute(
            "SELECT id, hash, tokens, split, document_id FROM chunks WHERE duplicate_of IS NULL"
        ).fetchall()

    def fresh_chunks(self) -> list[tuple[int, str, int, int, int | None]]:
        """(id, hash, tokens, document id, duplicate_of) of the chunks waiting for a split, in
        hash order (random, but the same on every machine)."""
        return self.db.execute(
            "SELECT id, hash, tokens, document_id, duplicate_of FROM chunks "
            "WHERE split = 'new' ORDER BY hash, id"
        ).fetchall()

    def set_chunk_splits(self, updates: Iterable[tuple[str, int]]) -> None:
        """(split, chunk id) pairs; the texts' decisions are remembered by `remember_splits`."""
        self.db.executemany("UPDATE chunks SET split = ? WHERE id = ?", updates)

    def remember_splits(self, decided: dict[str, str]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO splits (hash, split) VALUES (?, ?)", decided.items()
        )

    def summarise_document_splits(self) -> None:
        """documents.split: 'val' when all its passages are held out, 'part' when some are."""
        self.db.execute(
            """
            UPDATE documents SET split = (
                SELECT CASE WHEN COUNT(*) = 0 THEN NULL
                            WHEN SUM(c.split = 'val') = 0 THEN 'train'
                            WHEN SUM(c.split = 'val') = COUNT(*) THEN 'val'
                            ELSE 'part' END
                FROM chunks c WHERE c.document_id = documents.id)
            WHERE status = 'ok'
            """
        )

    # -- messages ---------------------------------------------------------------------------

    def chats_with_new_messages(self) -> list[int]:
        return [
            row[0]
            for row in self.db.execute("SELECT DISTINCT chat_id FROM messages WHERE split = 'new'")
        ]

    def chat_ids(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT id FROM chats ORDER BY id")]

    def message_tokens(self) -> tuple[int, int]:
        """(all message tokens, held-out message tokens)."""
        return self.db.execute(
            "SELECT COALESCE(SUM(tokens), 0), "
            "COALESCE(SUM(tokens) FILTER (WHERE split = 'val'), 0) FROM messages"
        ).fetchone()

    def conversation_count(self, split: str | None, limit: int = 0) -> int:
        """Decided conversations (`split` None), or held-out ones (`split` 'val'), counting at
        most `limit` (0: all): the policy only asks whether there are ten."""
        where = "split = 'val'" if split == "val" else "split != 'new'"
        cap = f" LIMIT {int(limit)}" if limit else ""
        return self.db.execute(
            f"SELECT COUNT(*) FROM (SELECT DISTINCT conversation FROM messages WHERE {where}{cap})"
        ).fetchone()[0]

    def message_rows(self, chat_id: int, since: float | None = None) -> list[tuple]:
        """(id, time, split, tokens, key) of a chat's messages in time order, from `since`."""
        return self.db.execute(
            "SELECT id, time, split, tokens, key FROM messages WHERE chat_id = ? AND time >= ? "
            "ORDER BY time, id",
            (chat_id, float("-inf") if since is None else since),
        ).fetchall()

    def rows_from_new(self, chat_id: int, gap_seconds: float) -> list[tuple]:
        """`message_rows` from the start of the conversation that holds the chat's earliest
        new message: found by walking back to the first silence."""
        earliest = self.db.execute(
            "SELECT MIN(time) FROM messages WHERE chat_id = ? AND split = 'new'", (chat_id,)
        ).fetchone()[0]
        start = earliest
        for (when,) in self.db.execute(
            "SELECT time FROM messages WHERE chat_id = ? AND time < ? ORDER BY time DESC",
            (chat_id, earliest),
        ):
            if start - when > gap_seconds:
                break
            start = when
        return self.message_rows(chat_id, start)

    def set_message_splits(self, updates: Iterable[tuple[str, int, int]]) -> None:
        """(split, conversation, message id) triples."""
        self.db.executemany("UPDATE messages SET split = ?, conversation = ? WHERE id = ?", updates)
