"""The near-duplicate index: a chunk is an original or the duplicate of an earlier one.

Exact duplicates share a folded-text hash; near ones share a MinHash LSH band and come close
enough in signature (`ingest/dedupe.py`). When an original goes, its duplicates are judged again.
"""

from __future__ import annotations

import numpy as np

from slmtui.ingest import dedupe


class DuplicateIndex:
    """`chunks.duplicate_of` and the `chunk_bands` table (a part of `Store`)."""

    threshold: float

    def _find_duplicate(self, norm_hash: str, sig: np.ndarray) -> int | None:
        row = self.db.execute(
            "SELECT id FROM chunks WHERE norm_hash = ? AND duplicate_of IS NULL LIMIT 1",
            (norm_hash,),
        ).fetchone()
        if row:
            return row[0]
        keys = dedupe.band_keys(sig)
        candidates = self.db.execute(
            # CROSS JOIN and the unary + keep SQLite on the band index: left to itself it
            # scans every original chunk through the duplicate_of index, which is quadratic.
            f"SELECT DISTINCT c.id, c.signature FROM chunk_bands b CROSS JOIN chunks c "
            f"ON c.id = b.chunk_id WHERE b.key IN ({','.join('?' * len(keys))}) "
            f"AND +c.duplicate_of IS NULL ORDER BY c.id",
            keys,
        )
        for chunk_id, blob in candidates:
            if dedupe.similarity(sig, dedupe.from_blob(blob)) >= self.threshold:
                return chunk_id
        return None

    def _index(self, chunk_id: int, sig: np.ndarray) -> None:
        self.db.executemany(
            "INSERT INTO chunk_bands (chunk_id, key) VALUES (?, ?)",
            [(chunk_id, key) for key in dedupe.band_keys(sig)],
        )

    def _delete_chunks_of(self, path: str) -> list[int]:
        """Delete a document's chunks; return the chunks elsewhere that were their duplicates."""
        orphans = [
            row[0]
            for row in self.db.execute(
                """
                SELECT dup.id FROM chunks dup JOIN chunks c ON dup.duplicate_of = c.id
                JOIN documents d ON d.id = c.document_id
                WHERE d.path = ? AND dup.document_id != d.id ORDER BY dup.id
                """,
                (path,),
            )
        ]
        self.db.execute(
            "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE path = ?)",
            (path,),
        )
        return orphans

    def _recheck(self, chunk_ids: list[int]) -> None:
        """Chunks whose original went away are duplicates of something else, or originals now."""
        for chunk_id in chunk_ids:
            norm_hash, blob = self.db.execute(
                "SELECT norm_hash, signature FROM chunks WHERE id = ?", (chunk_id,)
            ).fetchone()
            # Mark it as not-an-original while searching, so that it cannot match itself.
            self.db.execute("UPDATE chunks SET duplicate_of = -1 WHERE id = ?", (chunk_id,))
            duplicate_of = self._find_duplicate(norm_hash, dedupe.from_blob(blob))
            self.db.execute(
                "UPDATE chunks SET duplicate_of = ? WHERE id = ?", (duplicate_of, chunk_id)
            )
            if duplicate_of is None:
                self._index(chunk_id, dedupe.from_blob(blob))
