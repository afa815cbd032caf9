"""Which passages the dataset is made of: the live chunks, each text once, by split."""

from __future__ import annotations

from collections.abc import Callable

from slmtui.ingest.store import LiveChunk, Store


def select_chunks(
    store: Store,
    chunk_filter: Callable[[LiveChunk], bool] | None,
    *,
    include_excluded: bool = False,
) -> tuple[list[LiveChunk], list[LiveChunk]]:
    """The live chunks, each text once, that the filter keeps: (training, validation).

    What the person excluded (an example, a whole document) is left out, in both splits, so
    that its text never reaches a snapshot; `include_excluded=True` keeps it, for listing.
    """
    train: list[LiveChunk] = []
    val: list[LiveChunk] = []
    seen: set[str] = set()
    exclusions = store.exclusions()
    for chunk in store.live_chunks():
        if chunk.split == "new":  # an ingest pass is deciding its split right now
            continue
        if chunk.hash in seen or (chunk_filter is not None and not chunk_filter(chunk)):
            continue
        if not include_excluded and exclusions.excludes(chunk):
            continue
        seen.add(chunk.hash)
        (val if chunk.split == "val" else train).append(chunk)
    return train, val
