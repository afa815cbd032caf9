"""The requests the base model wrote for chat pairs, cached per chunk, kind and generator.

A rejected request is kept with the filter's reason, so a chunk the model fails on is not sent
to it again at every build; `forget_request` makes it be written anew when the person asks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedRequest:
    """What a generator wrote for one chunk, and whether the filter accepted it then."""

    output: str
    accepted: bool
    reason: str | None


class RequestCache:
    """The `requests` table (a part of `Store`)."""

    def cached_requests(self, kind: str, generator_key: str) -> dict[str, CachedRequest]:
        """Generated text for one kind and generator, by chunk hash."""
        rows = self.db.execute(
            "SELECT chunk_hash, output, accepted, reason FROM requests "
            "WHERE kind = ? AND generator_key = ?",
            (kind, generator_key),
        )
        return {row[0]: CachedRequest(row[1], bool(row[2]), row[3]) for row in rows}

    def cache_request(
        self,
        chunk_hash: str,
        kind: str,
        generator_key: str,
        output: str,
        *,
        accepted: bool,
        reason: str | None = None,
    ) -> None:
        self.db.execute(
            """
            INSERT INTO requests (chunk_hash, kind, generator_key, output, accepted, reason,
                                      created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(chunk_hash, kind, generator_key) DO UPDATE SET output = excluded.output,
                accepted = excluded.accepted, reason = excluded.reason,
                created_at = excluded.created_at
            """,
            (chunk_hash, kind, generator_key, output, int(accepted), reason, time.time()),
        )

    def forget_request(self, chunk_hash: str, kind: str, generator_key: str) -> None:
        """Drop a cached request, so that it is written again (asked for by the person)."""
        self.db.execute(
            "DELETE FROM requests WHERE chunk_hash = ? AND kind = ? AND generator_key = ?",
            (chunk_hash, kind, generator_key),
        )
