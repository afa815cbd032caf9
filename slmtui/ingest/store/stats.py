"""The store's counts as `slmtui status`, the Library and the Train screen show them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stats:
    """Documents, chunks, tokens per split, chats and messages, duplicates, skips with reasons."""

    documents_ok: int = 0
    documents_skipped: int = 0
    chunks: int = 0
    tokens_train: int = 0
    tokens_val: int = 0
    val_documents: int = 0  # documents with at least one held-out passage
    chats: int = 0
    messages: int = 0
    val_messages: int = 0
    duplicates_removed: int = 0
    per_format: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "documents_ok": self.documents_ok,
            "documents_skipped": self.documents_skipped,
            "skipped": self.skipped,
            "chunks": self.chunks,
            "tokens_train": self.tokens_train,
            "tokens_val": self.tokens_val,
            "val_documents": self.val_documents,
            "chats": self.chats,
            "messages": self.messages,
            "val_messages": self.val_messages,
            "tokens": self.tokens_train + self.tokens_val,
            "duplicates_removed": self.duplicates_removed,
            "per_format": self.per_format,
        }


class StatsQueries:
    """Counting over every table (a part of `Store`)."""

    def stats(self) -> Stats:
        stats = Stats()
        for status, count in self.db.execute(
            "SELECT status, COUNT(*) FROM documents GROUP BY status"
        ):
            if status == "ok":
                stats.documents_ok = count
            else:
                stats.documents_skipped = count
        for split, count, tokens in self.db.execute(
            "SELECT split, COUNT(*), SUM(tokens) FROM chunks WHERE duplicate_of IS NULL "
            "GROUP BY split"
        ):
            stats.chunks += count
            if split == "val":
                stats.tokens_val = tokens
            else:
                stats.tokens_train += tokens
        stats.val_documents = self.db.execute(
            "SELECT COUNT(DISTINCT document_id) FROM chunks "
            "WHERE split = 'val' AND duplicate_of IS NULL"
        ).fetchone()[0]
        stats.chats = self.db.execute("SELECT COUNT(*) FROM chats").fetchone()[0]
        stats.messages, stats.val_messages = self.db.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE split = 'val') FROM messages"
        ).fetchone()
        stats.duplicates_removed = self.db.execute(
            "SELECT COUNT(*) FROM chunks WHERE duplicate_of IS NOT NULL"
        ).fetchone()[0]
        for fmt, documents, chunks, tokens in self.db.execute(
            """
            SELECT d.format, COUNT(DISTINCT d.id), COUNT(c.id), COALESCE(SUM(c.tokens), 0)
            FROM documents d LEFT JOIN chunks c
              ON c.document_id = d.id AND c.duplicate_of IS NULL
            WHERE d.status = 'ok' GROUP BY d.format ORDER BY d.format
            """
        ):
            stats.per_format[fmt] = {"documents": documents, "chunks": chunks, "tokens": tokens}
        stats.skipped = [
            {"path": path, "reason": reason}
            for path, reason in self.db.execute(
                "SELECT path, reason FROM documents WHERE status = 'skipped' ORDER BY path"
            )
        ]
        return stats
