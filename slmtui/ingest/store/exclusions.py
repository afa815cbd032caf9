"""What the person left out of training: an example by its ID, or a whole document by its path.

The file stays in writing/ and in the store; only the dataset leaves it out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slmtui.ingest.store.documents import LiveChunk


@dataclass
class Exclusions:
    """Chunk hashes and document paths the person left out of training."""

    examples: set[str] = field(default_factory=set)
    documents: set[str] = field(default_factory=set)

    def excludes(self, chunk: LiveChunk) -> bool:
        return chunk.hash in self.examples or chunk.path in self.documents


class ExclusionTable:
    """The `exclusions` table (a part of `Store`)."""

    def set_excluded(self, kind: str, target: str, excluded: bool) -> None:
        """Leave an example (kind 'example', a chunk hash) or a document (its path) out of
        training, or take it back in."""
        if excluded:
            self.db.execute(
                "INSERT OR IGNORE INTO exclusions (kind, target, created_at) VALUES (?, ?, ?)",
                (kind, target, time.time()),
            )
        else:
            self.db.execute("DELETE FROM exclusions WHERE kind = ? AND target = ?", (kind, target))

    def exclusions(self) -> Exclusions:
        found = Exclusions()
        for kind, target in self.db.execute("SELECT kind, target FROM exclusions"):
            (found.examples if kind == "example" else found.documents).add(target)
        return found
