"""Ingest: the watched writing folder becomes chunks in the store (SQLite), incrementally.

watcher (watchdog events, debounced) -> extract (one reader per format) -> normalize and pii ->
chunking (the base model's tokens) -> dedupe (exact and MinHash) -> store, driven by ingestor.
Nothing here imports torch, textual or llama_cpp, and nothing in writing/ is ever written.
"""
