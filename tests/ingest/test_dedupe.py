import numpy as np

from slmtui.ingest import dedupe


def test_identical_ids_give_identical_signatures_and_band_keys():
    ids = list(range(200))
    a, b = dedupe.signature(ids), dedupe.signature(list(ids))
    assert a.dtype == np.uint32 and a.shape == (dedupe.NUM_PERM,)
    assert dedupe.similarity(a, b) == 1.0
    assert dedupe.band_keys(a) == dedupe.band_keys(b)


def test_similarity_tracks_overlap():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 49152, 400).tolist()
    small_edit = base[:390] + rng.integers(0, 49152, 10).tolist()
    unrelated = rng.integers(0, 49152, 400).tolist()
    near = dedupe.similarity(dedupe.signature(base), dedupe.signature(small_edit))
    far = dedupe.similarity(dedupe.signature(base), dedupe.signature(unrelated))
    assert near > 0.85
    assert far < 0.1


def test_short_and_empty_inputs():
    assert dedupe.signature([]).shape == (dedupe.NUM_PERM,)
    assert dedupe.similarity(dedupe.signature([1, 2]), dedupe.signature([1, 2])) == 1.0


def test_blob_round_trip_and_exact_key_ignores_case_and_spacing():
    sig = dedupe.signature(list(range(50)))
    assert np.array_equal(dedupe.from_blob(dedupe.to_blob(sig)), sig)
    assert dedupe.exact_key("The Tide  came\nin.") == dedupe.exact_key("the tide came in.")
    assert dedupe.exact_key("The tide came in.") != dedupe.exact_key("The tide went out.")
