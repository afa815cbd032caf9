"""Exact and near-duplicate detection for chunks.

Exact duplicates share a hash of their case- and space-folded text. Near duplicates are found with
MinHash over 5-token shingles of the base tokenizer's ids and locality-sensitive hashing in bands,
stored in SQLite so that the index persists between runs and never needs the corpus in memory.
The signature is computed with NumPy in one vectorised pass per chunk: hashing shingles one at a
time in Python (as general MinHash libraries do) would cost most of the ingest time budget.
"""

from __future__ import annotations

import hashlib

import numpy as np

from slmtui.ingest.normalize import comparison_key

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 5

_rng = np.random.default_rng(20261124)
_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) | np.uint64(1)).reshape(-1, 1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64).reshape(-1, 1)
_POWERS = np.array([(1_000_003**k) % 2**64 for k in range(SHINGLE)], dtype=np.uint64)


def exact_key(text: str) -> str:
    return hashlib.sha256(comparison_key(text).encode()).hexdigest()


def signature(ids: tuple[int, ...] | list[int]) -> np.ndarray:
    """MinHash signature (NUM_PERM uint32 values) of the chunk's token-id shingles."""
    array = np.asarray(ids, dtype=np.uint64)
    if array.size == 0:
        return np.zeros(NUM_PERM, dtype=np.uint32)
    if array.size < SHINGLE:
        array = np.pad(array, (0, SHINGLE - array.size))
    windows = np.lib.stride_tricks.sliding_window_view(array, SHINGLE)
    with np.errstate(over="ignore"):
        shingles = windows @ _POWERS  # wraps modulo 2**64, which is what we want
        hashed = (_A * shingles + _B) >> np.uint64(32)
    return hashed.min(axis=1).astype(np.uint32)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 64-bit key per band (the band's number hashed in), for one indexed lookup."""
    keys = []
    for band in range(BANDS):
        rows = sig[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(rows, digest_size=8, person=band.to_bytes(2, "little"))
        keys.append(int.from_bytes(digest.digest(), "little", signed=True))
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two chunks from their signatures."""
    return float(np.mean(a == b))


def to_blob(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")
