"""VectorIndex: exact answers, stable ids, factory choice, tuning, rebuilds, atomic persistence."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from media_ml.errors import IndexCorruptError, LibraryError, UsageError
from media_ml.indexes import VectorIndex, choose_factory, ivf_lists
from media_ml.indexes import vector as vector_module


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def clustered(n: int, d: int, centres: int, seed: int) -> np.ndarray:
    """Unit vectors around random centres on the sphere (cosine to their centre ≈ 0.8)."""
    rng = np.random.default_rng(seed)
    c = unit(np.random.default_rng(12345).standard_normal((centres, d)))
    noise = rng.standard_normal((n, d)) * (0.75 / np.sqrt(d))
    return unit(c[rng.integers(0, centres, n)] + noise)


def brute_force(base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int):
    scores = unit(queries) @ unit(base).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


@pytest.fixture(scope="module")
def ivf_case() -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    """40k clustered vectors (d=64) on an IVF index chosen for that size, with odd ids."""
    x = clustered(40_000, 64, centres=300, seed=1)
    ids = np.arange(len(x), dtype=np.int64) * 7 + 3
    factory = f"IVF{ivf_lists(len(x))},Flat"
    return VectorIndex.build(x, ids, factory=factory, seed=0), x, ids


# -- exact search ---------------------------------------------------------------------------


def test_flat_search_matches_numpy_brute_force() -> None:
    base, queries = random_vectors(800, 32, seed=1), random_vectors(25, 32, seed=2)
    ids = np.arange(800, dtype=np.int64)[::-1] * 10  # not row numbers
    index = VectorIndex.build(base, ids)
    scores, found = index.search(queries, k=7)
    want_scores, want_ids = brute_force(base, ids, queries, 7)
    assert index.factory == "IDMap2,Flat" and index.metric == "ip" and index.dim == 32
    assert scores.dtype == np.float32 and found.dtype == np.int64 and found.shape == (25, 7)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_search_normalises_queries_and_vectors() -> None:
    base = random_vectors(50, 8)
    index = VectorIndex.build(base * 37.0, np.arange(50))
    scores, found = index.search(base[:3] * 0.01, k=1)
    np.testing.assert_array_equal(found[:, 0], [0, 1, 2])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_k_larger_than_index_returns_everything() -> None:
    base = random_vectors(12, 16)
    index = VectorIndex.build(base, np.arange(100, 112))
    scores, found = index.search(base[:2], k=50)
    assert found.shape == (2, 12) and sorted(found[0]) == list(range(100, 112))
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_k_larger_than_probed_lists_still_returns_everything(ivf_case) -> None:
    index, x, ids = ivf_case
    _, found = index.search(x[:2], k=5_000)  # more than nprobe lists hold
    assert found.shape == (2, 5_000) and (found >= 0).all() and len(np.unique(found[0])) == 5_000


@pytest.mark.parametrize("k", [0, -3])
def test_k_not_positive_is_a_usage_error(k: int) -> None:
    index = VectorIndex.build(random_vectors(5, 4), np.arange(5))
    with pytest.raises(UsageError, match="k must be a positive integer"):
        index.search(random_vectors(1, 4), k=k)


def test_empty_index_builds_and_grows() -> None:
    index = VectorIndex.build(np.zeros((0, 8), np.float32), np.zeros(0, np.int64))
    scores, found = index.search(random_vectors(3, 8), k=5)
    assert len(index) == 0 and scores.shape == found.shape == (3, 0)
    index.add(random_vectors(4, 8), [9, 8, 7, 6])
    assert len(index) == 4 and sorted(index.search(random_vectors(1, 8), k=9)[1][0]) == [6, 7, 8, 9]


# -- bad input ------------------------------------------------------------------------------


def test_wrong_dimension_names_the_shape() -> None:
    index = VectorIndex.build(random_vectors(10, 16), np.arange(10))
    with pytest.raises(UsageError, match=r"shape \(2, 15\), expected \(n, 16\)"):
        index.search(random_vectors(2, 15), k=1)
    with pytest.raises(UsageError, match=r"shape \(16,\)"):
        index.search(random_vectors(1, 16)[0], k=1)
    with pytest.raises(UsageError, match=r"shape \(3, 8\)"):
        index.add(random_vectors(3, 8), [1, 2, 3])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_vectors_are_rejected(bad: float) -> None:
    x = random_vectors(4, 8)
    x[2, 3] = bad
    with pytest.raises(UsageError, match="NaN or inf.*row 2"):
        VectorIndex.build(x, np.arange(4))


def test_zero_vectors_and_bad_ids_are_rejected() -> None:
    x = random_vectors(4, 8)
    with pytest.raises(UsageError, match="zero rows"):
        VectorIndex.build(np.vstack([x, np.zeros((1, 8), np.float32)]), np.arange(5))
    with pytest.raises(UsageError, match="duplicates"):
        VectorIndex.build(x, [1, 2, 2, 3])
    with pytest.raises(UsageError, match="non-negative"):
        VectorIndex.build(x, [1, 2, -1, 3])
    with pytest.raises(UsageError, match=r"ids: shape \(3,\), expected \(4,\)"):
        VectorIndex.build(x, [1, 2, 3])


# -- ids through updates and persistence ----------------------------------------------------


def test_adding_an_existing_id_replaces_its_vector() -> None:
    base = random_vectors(30, 16)
    index = VectorIndex.build(base, np.arange(30))
    new = random_vectors(1, 16, seed=99)
    index.add(new, [5])
    assert len(index) == 30
    scores, found = index.search(new, k=1)
    assert found[0, 0] == 5 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert index.search(base[5:6], k=1)[1][0, 0] != 5  # the old vector is gone


def test_ids_are_stable_through_add_remove_save_load(tmp_path: Path) -> None:
    base = random_vectors(200, 24)
    ids = np.arange(200, dtype=np.int64) * 1000 + 17
    index = VectorIndex.build(base, ids, metadata={"model": "untrained", "weights": "sha256:0"})
    extra = random_vectors(20, 24, seed=5)
    index.add(extra, np.arange(20) + 10**12)
    assert index.remove(ids[:50]) == 50
    assert index.remove([ids[0], 123456789]) == 0  # absent ids are ignored
    index.save(tmp_path / "index")
    loaded = VectorIndex.load(tmp_path / "index")
    assert len(loaded) == 170 and loaded.metadata == {"model": "untrained", "weights": "sha256:0"}
    _, found = loaded.search(np.vstack([base[50:60], extra[:5]]), k=1)
    np.testing.assert_array_equal(found[:, 0], np.r_[ids[50:60], np.arange(5) + 10**12])
    assert not np.isin(loaded.search(base, k=170)[1], ids[:50]).any()


def test_ivf_keeps_ids_through_remove_replace_and_reload(ivf_case, tmp_path: Path) -> None:
    built, x, ids = ivf_case
    built.save(tmp_path / "ivf")
    index = VectorIndex.load(tmp_path / "ivf")  # a copy: the fixture stays untouched
    assert index.factory.startswith("IVF") and index.search_params["nprobe"] >= 1
    np.testing.assert_array_equal(index.search(x[:50], k=10)[1], built.search(x[:50], k=10)[1])
    assert index.remove(ids[:100]) == 100 and len(index) == len(x) - 100
    assert not np.isin(index.search(x[:100], k=10)[1], ids[:100]).any()
    moved = unit(x[200:201] + x[300:301])
    index.add(moved, ids[200:201])
    assert len(index) == len(x) - 100
    assert index.search(moved, k=1)[1][0, 0] == ids[200]


# -- factory choice, tuning, rebuilds --------------------------------------------------------


def test_factory_follows_size_and_memory_budget() -> None:
    assert choose_factory(1_000, 512) == "IDMap2,Flat"
    assert choose_factory(1_000_000, 512) == "IVF4096,Flat"
    assert ivf_lists(100_000) == 1024 and ivf_lists(1_000) == 16  # 39 training points per list
    assert choose_factory(1_000_000, 512, 1_200 * 2**20) == "IVF4096,SQ8"
    assert choose_factory(1_000_000, 512, 200 * 2**20) == "IVF4096,PQ128"
    assert choose_factory(1_000_000, 512, 70 * 2**20) == "IVF4096,PQ16"
    assert choose_factory(20_000, 512, 20 * 2**20) == "IVF512,SQ8"  # Flat would not fit
    with pytest.raises(UsageError, match="too small"):
        choose_factory(1_000_000, 512, 2**20)


def test_ivf_reaches_recall_target_on_fresh_queries(ivf_case) -> None:
    index, x, ids = ivf_case
    queries = clustered(300, 64, centres=300, seed=2)  # same mixture, not in the index
    _, want = brute_force(x, ids, queries, 10)
    _, found = index.search(queries, k=10)
    recall = index.manifest["recall"]
    assert recall["measured"] >= 0.95 and recall["reached"] and recall["queries"] == 300
    assert index.search_params["nprobe"] < ivf_lists(len(x)) // 4  # far from exhaustive
    assert recall_at(found, want) >= 0.95


def test_compressed_ivf_search_is_close_to_exact() -> None:
    x = clustered(12_000, 32, centres=100, seed=3)
    index = VectorIndex.build(x, np.arange(12_000), factory="IVF64,PQ16", recall_target=0.8)
    queries = clustered(100, 32, centres=100, seed=4)
    assert recall_at(index.search(queries, k=10)[1],
                     brute_force(x, np.arange(12_000), queries, 10)[1]) >= 0.6


def test_flat_index_outgrowing_its_threshold_is_rebuilt_as_ivf(monkeypatch) -> None:
    monkeypatch.setattr(vector_module, "FLAT_MAX_VECTORS", 2_000)
    x = clustered(3_000, 16, centres=40, seed=5)
    index = VectorIndex.build(x[:1_500], np.arange(1_500), metadata={"model": "m"})
    assert index.factory == "IDMap2,Flat"
    index.add(x[1_500:], np.arange(1_500, 3_000))
    assert index.factory == f"IVF{ivf_lists(3_000)},Flat" and len(index) == 3_000
    assert index.manifest["trained_for"] == 3_000 and index.metadata == {"model": "m"}
    np.testing.assert_array_equal(index.search(x[::100], k=1)[1][:, 0], np.arange(0, 3_000, 100))


def test_ivf_index_grown_sixteenfold_is_retrained() -> None:
    x = clustered(18_000, 16, centres=40, seed=6)
    index = VectorIndex.build(x[:1_000], np.arange(1_000), factory="IVF16,Flat")
    index.add(x[1_000:16_000], np.arange(1_000, 16_000))
    assert index.factory == "IVF16,Flat" and not index.needs_rebuild  # exactly 16×: still fine
    index.add(x[16_000:], np.arange(16_000, 18_000))
    assert index.factory == "IDMap2,Flat" and len(index) == 18_000  # re-chosen for 18k


def test_compressed_index_asks_for_original_vectors_to_rebuild(caplog) -> None:
    x = clustered(11_000, 16, centres=40, seed=7)
    index = VectorIndex.build(x[:600], np.arange(600), factory="IVF8,SQ8")
    with caplog.at_level(logging.WARNING, logger="media_ml.indexes.vector"):
        index.add(x[600:], np.arange(600, 11_000))
    assert index.needs_rebuild and "original vectors" in caplog.text
    with pytest.raises(UsageError, match="compressed"):
        index.rebuild()
    index.rebuild(x, np.arange(11_000))
    assert index.factory == "IDMap2,Flat" and not index.needs_rebuild


# -- manifest and corruption ----------------------------------------------------------------


def saved(tmp_path: Path) -> Path:
    index = VectorIndex.build(random_vectors(300, 16), np.arange(300),
                              metadata={"model": "ViT-B-32:laion2b_s34b_b79k"})
    index.save(tmp_path / "index")
    return tmp_path / "index"


def index_file(directory: Path) -> Path:
    (file,) = directory.glob("index-*.faiss")
    return file


def test_manifest_records_what_built_the_index(tmp_path: Path) -> None:
    directory = saved(tmp_path)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["dimension"] == 16 and manifest["count"] == 300 and manifest["metric"] == "ip"
    assert manifest["factory"] == "IDMap2,Flat" and manifest["faiss_version"]
    assert manifest["metadata"]["model"] == "ViT-B-32:laion2b_s34b_b79k" and manifest["created"]
    (name, entry), = manifest["files"].items()
    assert entry["size"] == (directory / name).stat().st_size and len(entry["sha256"]) == 64
    assert VectorIndex.load(directory).manifest["files"] == manifest["files"]


def test_flipped_bytes_are_detected(tmp_path: Path) -> None:
    file = index_file(saved(tmp_path))
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"sha256.*media-ml reindex --library"):
        VectorIndex.load(file.parent)


def test_truncated_file_is_detected(tmp_path: Path) -> None:
    file = index_file(saved(tmp_path))
    file.write_bytes(file.read_bytes()[:-100])
    with pytest.raises(IndexCorruptError, match="truncated"):
        VectorIndex.load(file.parent)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("dimension", 32, "dimension"), ("count", 299, "count"),
    ("factory", "IVF16,Flat", "factory"), ("metric", "l2", "metric"),
])
def test_manifest_not_matching_the_index_is_detected(tmp_path, key, value, message) -> None:
    directory = saved(tmp_path)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest[key] = value
    if key == "factory":
        manifest["search_params"] = {"nprobe": 1}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match=message):
        VectorIndex.load(directory)


def test_missing_or_garbled_manifest_is_detected(tmp_path: Path) -> None:
    directory = saved(tmp_path)
    (directory / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match=r"manifest.json.*--library " + str(tmp_path)):
        VectorIndex.load(directory)
    (directory / "manifest.json").unlink()
    with pytest.raises(IndexCorruptError):
        VectorIndex.load(directory)
    with pytest.raises(LibraryError, match="no vector index"):
        VectorIndex.load(tmp_path / "elsewhere")


# -- atomic save ----------------------------------------------------------------------------


def test_failed_index_write_leaves_the_previous_index(tmp_path: Path, monkeypatch) -> None:
    import faiss

    directory = saved(tmp_path)
    before = sorted(p.name for p in directory.iterdir())
    index = VectorIndex.load(directory)
    index.add(random_vectors(5, 16, seed=8), np.arange(1000, 1005))

    def broken_write(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(LibraryError, match="disk full"):
        index.save(directory)
    assert sorted(p.name for p in directory.iterdir()) == before  # no temp files left
    assert len(VectorIndex.load(directory)) == 300


def test_failure_before_the_manifest_commit_leaves_the_previous_index(tmp_path, monkeypatch):
    directory = saved(tmp_path)
    index = VectorIndex.load(directory)
    index.add(random_vectors(5, 16, seed=8), np.arange(1000, 1005))
    real_fsync = vector_module._fsync

    def fsync_failing_on_manifest(path: Path) -> None:
        if path.name.startswith(".manifest"):
            raise OSError("I/O error")
        real_fsync(path)

    monkeypatch.setattr(vector_module, "_fsync", fsync_failing_on_manifest)
    with pytest.raises(LibraryError, match="I/O error"):
        index.save(directory)
    assert len(VectorIndex.load(directory)) == 300  # the old manifest still names the old file
    monkeypatch.setattr(vector_module, "_fsync", real_fsync)
    index.save(directory)  # the next save succeeds and sweeps the orphan
    assert len(list(directory.glob("index-*.faiss"))) == 1
    assert len(VectorIndex.load(directory)) == 305


def test_in_place_updates_retrain_only_when_drift_is_measured() -> None:
    rng = np.random.default_rng(3)
    base = random_vectors(2_000, 16, seed=3)
    index = VectorIndex.build(base, np.arange(2_000), factory="IVF16,Flat")
    assert index.retrain_reason() is None
    # More of the same data: lists stay balanced, nothing to retrain.
    index.add(random_vectors(500, 16, seed=4), np.arange(2_000, 2_500))
    assert index.retrain_reason() is None
    assert index.manifest["drift"]["changed_since_probe"] == 500
    # New data piling up in one corner of the space: the lists grow unbalanced.
    corner = base[0] + 0.05 * rng.normal(size=(3_000, 16)).astype(np.float32)
    index.add(corner, np.arange(10_000, 13_000))
    reason = index.retrain_reason()
    assert reason is not None and "unbalanced" in reason
    index.rebuild()
    assert index.retrain_reason() is None and len(index) == 5_500


def test_a_recall_probe_passes_on_data_like_the_training_set() -> None:
    index = VectorIndex.build(random_vectors(4_000, 16, seed=5), np.arange(4_000),
                              factory="IVF32,Flat")
    fresh = random_vectors(1_000, 16, seed=6)
    index.add(fresh, np.arange(4_000, 5_000))
    assert index.retrain_reason(probe_queries=fresh, probe_every=0.1) is None
    probe = index.manifest["drift"]["probes"][-1]
    assert probe["queries"] == 64 and probe["recall"] >= 0.95
    assert index.manifest["drift"]["changed_since_probe"] == 0
    # Too few changes since the last probe: no new probe is run.
    index.add(fresh[:10], np.arange(6_000, 6_010))
    assert index.retrain_reason(probe_queries=fresh, probe_every=0.1) is None
    assert len(index.manifest["drift"]["probes"]) == 1


def test_a_recall_probe_that_misses_asks_for_a_retrain() -> None:
    index = VectorIndex.build(random_vectors(6_000, 64, seed=7), np.arange(6_000),
                              factory="IVF128,Flat")
    index._manifest["search_params"]["nprobe"] = 1  # as if tuned on data that has drifted away
    fresh = random_vectors(1_000, 64, seed=8)
    index.add(fresh, np.arange(6_000, 7_000))
    reason = index.retrain_reason(probe_queries=fresh)
    assert reason is not None and "recall@10 fell to" in reason and "nprobe=4" in reason
    index.rebuild()  # re-chosen for 7,000 vectors: exact search
    assert index.factory == "IDMap2,Flat" and index.retrain_reason(probe_queries=fresh) is None
