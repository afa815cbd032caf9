"""Documents in writing/ and their chunks: what was read, what it gave, and why a file was skipped.

A document row is kept for every file (a skipped one with its reason); its chunks carry the
text, token count, split and, through `duplicates.py`, whether they repeat another chunk. A
chunk whose text was seen before keeps the split that text was given (`splits.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from slmtui.ingest import dedupe


@dataclass(frozen=True)
class DocumentRow:
    """A file of writing/ as stored: its read, its status and reason, its live chunk counts."""

    id: int
    path: str
    format: str | None
    size: int
    mtime_ns: int
    content_hash: str | None
    split_key: str | None
    split: str | None
    status: str
    reason: str | None
    chars: int
    chunks: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class NewChunk:
    """A chunk about to be stored, with its dedupe hashes and MinHash signature."""

    text: str
    tokens: int
    hash: str
    norm_hash: str
    signature: np.ndarray


@dataclass(frozen=True)
class LiveChunk:
    """A chunk that counts (not a duplicate), with where it comes from."""

    hash: str
    text: str
    tokens: int
    split: str
    path: str
    ord: int


_DOCUMENT_COLUMNS = (
    "d.id, d.path, d.format, d.size, d.mtime_ns, d.content_hash, d.split_key, d.split, "
    "d.status, d.reason, d.chars"
)


class DocumentTables:
    """The `documents` and `chunks` tables (a part of `Store`)."""

    def forget_hashes(self) -> None:
        """Make the next ingest read every document again (the chunking settings changed)."""
        self.db.execute("UPDATE documents SET content_hash = NULL, mtime_ns = -1")

    def document(self, path: str) -> DocumentRow | None:
        row = self.db.execute(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.path = ?", (path,)
        ).fetchone()
        return DocumentRow(*row) if row else None

    def documents(self) -> list[DocumentRow]:
        """Every document with its live chunk and token counts, by path."""
        rows = self.db.execute(
            f"""
            SELECT {_DOCUMENT_COLUMNS},
                   COUNT(c.id) FILTER (WHERE c.duplicate_of IS NULL),
                   COALESCE(SUM(c.tokens) FILTER (WHERE c.duplicate_of IS NULL), 0)
            FROM documents d LEFT JOIN chunks c ON c.document_id = d.id
            GROUP BY d.id ORDER BY d.path
            """
        )
        return [DocumentRow(*row) for row in rows]

    def paths(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT path FROM documents")}

    def paths_under(self, prefix: str) -> list[str]:
        """Document paths equal to prefix or inside the folder prefix."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(
            "SELECT path FROM documents WHERE path = ? OR path LIKE ? ESCAPE '\\'",
            (prefix, escaped + "/%"),
        )
        return [row[0] for row in rows]

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        self.db.execute(
            "UPDATE documents SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path)
        )

    def rename(self, old: str, new: str, size: int, mtime_ns: int) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM documents WHERE path = ?", (new,))
            self.db.execute(
                "UPDATE documents SET path = ?, size = ?, mtime_ns = ?, updated_at = ? "
                "WHERE path = ?",
                (new, size, mtime_ns, time.time(), old),
            )

    def record_skip(
        self, path: str, reason: str, size: int, mtime_ns: int, fmt: str | None = None
    ) -> None:
        """A file that gives no text: keep its row (with reason), drop any chunks it had."""
        with self.transaction():
            orphans = self._delete_chunks_of(path)
            self.db.execute(
                """
                INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key,
                                       split, status, reason, chars, updated_at)
                VALUES (?, ?, ?, ?, NULL, NULL, NULL, 'skipped', ?, 0, ?)
                ON CONFLICT(path) DO UPDATE SET format = excluded.format, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, content_hash = NULL, split = NULL,
                    status = 'skipped', reason = excluded.reason, chars = 0,
                    updated_at = excluded.updated_at
                """,
                (path, fmt, size, mtime_ns, reason, time.time()),
            )
            self._recheck(orphans)
            self._unlink_chats(path)

    def remove(self, paths: Iterable[str]) -> int:
        removed = 0
        with self.transaction():
            for path in paths:
                orphans = self._delete_chunks_of(path)
                removed += self.db.execute("DELETE FROM documents WHERE path = ?", (path,)).rowcount
                self._recheck(orphans)
            self._drop_orphan_chats()
        return removed

    def replace_document(
        self,
        *,
        path: str,
        fmt: str,
        size: int,
        mtime_ns: int,
        content_hash: str,
        split_key: str,
        chars: int,
        chunks: list[NewChunk],
    ) -> int:
        """Store a document and its chunks in one transaction; returns duplicates found.

        A chunk whose text had a split keeps it; a new text waits as 'new' until
        `assign_new_splits` decides at the end of the pass."""
        with self.transaction():
            orphans = self._delete_chunks_of(path)
            self.db.execute(
                """
                INSERT INTO documents (path, format, size, mtime_ns, content_hash, split_key,
                                       split, status, reason, chars, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 'new', 'ok', NULL, ?, ?)
                ON CONFLICT(path) DO UPDATE SET format = excluded.format, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,
                    split_key = excluded.split_key, split = 'new', status = 'ok',
                    reason = NULL, chars = excluded.chars, updated_at = excluded.updated_at
                """,
                (path, fmt, size, mtime_ns, content_hash, split_key, chars, time.time()),
            )
            document_id = self.db.execute(
                "SELECT id FROM documents WHERE path = ?", (path,)
            ).fetchone()[0]
            duplicates = 0
            for order, chunk in enumerate(chunks):
                duplicate_of = self._find_duplicate(chunk.norm_hash, chunk.signature)
                duplicates += duplicate_of is not None
                split = self.remembered_split(chunk.hash)
                chunk_id = self.db.execute(
                    """
                    INSERT INTO chunks (document_id, ord, hash, text, tokens, split, norm_hash,
                                        signature, duplicate_of)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (
                        document_id, order, chunk.hash, chunk.text, chunk.tokens, split,
                        chunk.norm_hash, dedupe.to_blob(chunk.signature), duplicate_of,
                    ),
                ).lastrowid  # fmt: skip
                if duplicate_of is None:
                    self._index(chunk_id, chunk.signature)
            self._recheck(orphans)
            self._unlink_chats(path)
        return duplicates

    def known_chunk(self, chunk_hash: str) -> tuple[int, np.ndarray] | None:
        """Tokens and signature of a chunk already stored with this exact text, if any."""
        row = self.db.execute(
            "SELECT tokens, signature FROM chunks WHERE hash = ? AND signature IS NOT NULL LIMIT 1",
            (chunk_hash,),
        ).fetchone()
        return (row[0], dedupe.from_blob(row[1])) if row else None

    def chunks_of(self, path: str) -> list[tuple[int, str, int, str, int | None]]:
        """(order, text, tokens, split, duplicate_of) for one document's chunks."""
        return list(
            self.db.execute(
                """
                SELECT c.ord, c.text, c.tokens, c.split, c.duplicate_of FROM chunks c
                JOIN documents d ON d.id = c.document_id WHERE d.path = ? ORDER BY c.ord
                """,
                (path,),
            )
        )

    def live_chunks(self) -> list[LiveChunk]:
        """Every chunk that is not a duplicate, by document path and order."""
        rows = self.db.execute(
            """
            SELECT c.hash, c.text, c.tokens, c.split, d.path, c.ord FROM chunks c
            JOIN documents d ON d.id = c.document_id
            WHERE c.duplicate_of IS NULL ORDER BY d.path, c.ord
            """
        )
        return [LiveChunk(*row) for row in rows]
