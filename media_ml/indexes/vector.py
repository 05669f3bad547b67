"""FAISS vector index: cosine search over keyframe embeddings with stable ids and atomic saves.

Vectors are L2-normalised on the way in (build, add, search), so inner product ("ip") is cosine.
Ids are the caller's (keyframe ids): ``search`` returns them, ``add`` with an existing id replaces
its vector, ``remove`` drops ids. The factory is chosen from the size and an optional memory budget
(:func:`choose_factory`); IVF search parameters are tuned at build time to a recall target, and
both are recorded in ``manifest.json`` next to the index file::

    index = VectorIndex.build(vectors, keyframe_ids, metadata={"model": "ViT-B-32:laion2b_s34b"})
    scores, ids = index.search(query_vectors, k=10)
    index.save("lib/index")
    index = VectorIndex.load("lib/index")      # IndexCorruptError if it does not match its manifest

Factory rule (``choose_factory``; ``nlist`` = 4·√n rounded to a power of two, at most n/39):

* n ≤ 50,000 and within the budget: ``IDMap2,Flat`` — exact; a scan of ≤ 100 MB at d = 512.
* otherwise the first of these that fits the budget (all when there is none):
  ``IVF{nlist},Flat`` (4·d bytes a vector), ``IVF{nlist},SQ8`` (d bytes, near-lossless),
  ``IVF{nlist},PQ{m}`` (m bytes, largest m dividing d that fits; recall may stay below target).
  The coarse quantizer is trained (k-means, 10 iterations, spherical) on a seeded sample of
  min(n, 40·nlist) vectors — the 39 per list FAISS asks for, and no more: each training vector
  costs nlist·d per iteration, and more of them barely move IVF recall (PQ codecs train on at
  least 9,984, the 39 × 256 their codebooks need).

Why IVF and not HNSW: a re-ingested video replaces its keyframes, so the index must remove ids.
HNSW cannot (it would need tombstones and periodic full rebuilds, and an HNSW build of 10^6×512
takes far longer than IVF's on a few cores); IVF with a hash-table direct map removes in O(removed)
and, tuned, already meets the recall target at ≥ 10× exact single-query throughput (see
``benchmarks/RESULTS.md``). It also compresses (SQ8, PQ) under the same ids when memory demands.

Search parameters: ``nprobe`` is the smallest value whose recall@10 against exact search reaches
``recall_target`` on 300 queries made from the data (sampled vectors pushed away by the data's own
10th-neighbour distance, so they are harder than stored vectors). Rows that come back short (fewer
than k vectors in the probed lists) are searched again over all lists.

Outgrowing: an index is rebuilt when its size leaves the range its factory was chosen for — a Flat
index past 50,000 vectors (or its budget), an IVF index more than 16× larger or smaller than the n
it was trained on. ``add``/``remove`` rebuild automatically when the stored vectors are exact
(Flat codecs); compressed indexes set ``needs_rebuild`` and log a warning, and ``rebuild(vectors,
ids)`` must be given the original vectors (the catalog keeps them).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from media_ml.errors import IndexCorruptError, LibraryError, UsageError

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

METRIC = "ip"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FLAT_MAX_VECTORS = 50_000
REGROW_FACTOR = 16
TRAIN_MIN_PER_LIST = 39  # FAISS warns below 39 training points per centroid
TRAIN_MAX_PER_LIST = 40
KMEANS_ITERATIONS = 10
PQ_MIN_TRAIN = 256 * TRAIN_MIN_PER_LIST  # 8-bit PQ trains 256 centroids per sub-quantizer
TUNE_QUERIES = 300
RECALL_AT = 10
# Per vector on top of its code: the 8-byte id plus its hash-table entry (IDMap2's reverse map or
# IVF's direct map), ~40 bytes in libstdc++'s unordered_map.
ID_BYTES = 48
# In-place updates: retrain when lists grow this much more unbalanced than when trained, or when
# a recall probe (PROBE_QUERIES queries, once PROBE_EVERY of the index changed) misses the target
# even at NPROBE_LIMIT × the tuned nprobe.
IMBALANCE_LIMIT = 2.0
PROBE_EVERY = 0.1
PROBE_QUERIES = 64
NPROBE_LIMIT = 4

_FACTORY_RE = re.compile(r"^(?:IDMap2,Flat|IVF(?P<nlist>\d+),(?P<codec>Flat|SQ8|PQ(?P<m>\d+)))$")


@dataclass(frozen=True)
class Factory:
    """A parsed factory string: ``IDMap2,Flat`` or ``IVF{nlist},{Flat|SQ8|PQ{m}}``."""

    text: str
    nlist: int  # 0 for the exact index
    codec: str  # "Flat", "SQ8" or "PQ{m}"

    @classmethod
    def parse(cls, text: str) -> Factory:
        match = _FACTORY_RE.match(text)
        if match is None:
            raise UsageError(f"factory {text!r}: expected 'IDMap2,Flat' or 'IVF<n>,Flat|SQ8|PQ<m>'")
        return cls(text, int(match["nlist"] or 0), match["codec"] or "Flat")

    @property
    def is_ivf(self) -> bool:
        return self.nlist > 0

    @property
    def lossless(self) -> bool:
        """Whether stored vectors can be read back exactly (so a rebuild needs no originals)."""
        return self.codec == "Flat"

    def code_bytes(self, d: int) -> int:
        if self.codec == "Flat":
            return 4 * d
        if self.codec == "SQ8":
            return d
        return int(self.codec[2:])

    def estimate_bytes(self, n: int, d: int) -> int:
        """Approximate resident size of the index holding n vectors of dimension d."""
        fixed = 4 * d * self.nlist  # centroids
        if self.codec.startswith("PQ"):
            fixed += 4 * d * 256  # codebooks: m sub-quantizers × 256 centroids × d/m floats
        return fixed + n * (self.code_bytes(d) + ID_BYTES)


def ivf_lists(n: int) -> int:
    """Number of IVF lists for n vectors: 4·√n to the nearest power of two, at most n/39."""
    nlist = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))
    while nlist > 1 and nlist * TRAIN_MIN_PER_LIST > n:
        nlist //= 2
    return nlist


def choose_factory(n: int, d: int, memory_budget_bytes: int | None = None) -> str:
    """The factory string for n vectors of dimension d within an optional memory budget.

    >>> choose_factory(10_000, 512), choose_factory(1_000_000, 512)
    ('IDMap2,Flat', 'IVF4096,Flat')
    >>> choose_factory(1_000_000, 512, memory_budget_bytes=200 * 2**20)
    'IVF4096,PQ128'
    """

    def fits(factory: Factory) -> bool:
        return memory_budget_bytes is None or factory.estimate_bytes(n, d) <= memory_budget_bytes

    flat = Factory.parse("IDMap2,Flat")
    if n <= FLAT_MAX_VECTORS and fits(flat):
        return flat.text
    nlist = ivf_lists(n)
    codecs = ["Flat", "SQ8"]
    if n >= PQ_MIN_TRAIN:
        codecs += [f"PQ{m}" for m in (128, 64, 32, 16, 8) if m <= d and d % m == 0]
    for codec in codecs:
        factory = Factory.parse(f"IVF{nlist},{codec}")
        if fits(factory):
            return factory.text
    smallest = Factory.parse(f"IVF{nlist},{codecs[-1]}")
    raise UsageError(
        f"memory budget {memory_budget_bytes} bytes is too small for {n} vectors of dimension {d}: "
        f"the most compact choice, {smallest.text}, needs ~{smallest.estimate_bytes(n, d)} bytes"
    )


class VectorIndex:
    """A FAISS inner-product index over L2-normalised vectors keyed by the caller's int64 ids."""

    def __init__(self, index: Any, manifest: dict[str, Any]) -> None:
        """Wrap a FAISS index and its manifest; use :meth:`build` or :meth:`load` instead."""
        self._index = index
        self._manifest = manifest
        self._factory = Factory.parse(manifest["factory"])

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        vectors: npt.ArrayLike,
        ids: npt.ArrayLike,
        memory_budget_bytes: int | None = None,
        recall_target: float = 0.95,
        seed: int = 0,
        metadata: dict[str, Any] | None = None,
        *,
        factory: str | None = None,
    ) -> VectorIndex:
        """Build an index of ``vectors`` (n, d) under ``ids`` (n,), choosing its factory.

        ``factory`` overrides :func:`choose_factory` (tests, experiments). ``metadata`` (e.g. the
        model name and weights hash) is stored in the manifest as given; it must be JSON-able.
        """
        faiss = _faiss()

        x = _as_vectors(vectors, None, "vectors")
        keys = _as_ids(ids, len(x))
        d = x.shape[1]
        if memory_budget_bytes is not None and memory_budget_bytes <= 0:
            raise UsageError(f"memory_budget_bytes must be positive, got {memory_budget_bytes}")
        if not 0.0 < recall_target <= 1.0:
            raise UsageError(f"recall_target must be in (0, 1], got {recall_target}")
        meta = dict(metadata or {})
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"metadata must be JSON-serialisable: {exc}") from exc
        spec = Factory.parse(factory or choose_factory(len(x), d, memory_budget_bytes))
        if spec.is_ivf and len(x) < spec.nlist:
            raise UsageError(f"factory {spec.text} needs ≥ {spec.nlist} vectors, got {len(x)}")

        index = faiss.index_factory(d, spec.text, faiss.METRIC_INNER_PRODUCT)
        params: dict[str, int] = {}
        recall: dict[str, Any] = {"target": recall_target, "measured": 1.0, "reached": True,
                                  "at_k": RECALL_AT, "queries": 0, "exact": True}
        if spec.is_ivf:
            _train_ivf(index, x, spec.nlist, seed)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
        _add_in_chunks(index, x, keys)
        if spec.is_ivf and len(x) > 0:
            nprobe, recall = _tune_nprobe(index, x, keys, spec.nlist, recall_target, seed)
            params["nprobe"] = nprobe
            if not recall["reached"]:
                log.warning("%s reaches recall@%d %.3f < target %.3f (nprobe=%d)", spec.text,
                            recall["at_k"], recall["measured"], recall_target, nprobe)
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "dimension": d,
            "metric": METRIC,
            "factory": spec.text,
            "count": int(index.ntotal),
            "trained_for": len(x),
            "search_params": params,
            "recall": recall,
            "build": {"memory_budget_bytes": memory_budget_bytes, "recall_target": recall_target,
                      "seed": seed},
            "metadata": meta,
            "drift": {"imbalance_at_build": _imbalance(index) if spec.is_ivf else 1.0,
                      "changed_since_probe": 0, "probes": []},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "faiss_version": faiss.__version__,
        }
        log.info("built %s over %d vectors (d=%d) %s", spec.text, len(x), d, params)
        return cls(index, manifest)

    # -- queries -----------------------------------------------------------------------------

    def search(self, queries: npt.ArrayLike, k: int,
               exclude: npt.ArrayLike | None = None) -> tuple[Vectors, Ids]:
        """Top-k by cosine: ``(scores, ids)``, each (q, min(k, len(self))), best first.

        ``exclude`` lists ids to leave out (filtered inside FAISS, so k stays k); rows that
        come back short are padded with id -1.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise UsageError(f"k must be a positive integer, got {k!r}")
        q = _as_vectors(queries, self.dim, "queries")
        kk = min(int(k), len(self))
        if kk == 0 or len(q) == 0:
            return np.zeros((len(q), kk), np.float32), np.zeros((len(q), kk), np.int64)
        selector = None
        if exclude is not None and len(np.asarray(exclude)):
            faiss = _faiss()
            keys = np.ascontiguousarray(np.unique(np.asarray(exclude, np.int64)))
            batch = faiss.IDSelectorBatch(keys)
            selector = faiss.IDSelectorNot(batch)
            selector.referenced = batch  # keep the inner selector alive with the outer one
        scores, ids = self._index.search(q, kk, params=self._search_params(sel=selector))
        short = (ids < 0).any(axis=1)
        if short.any() and self._factory.is_ivf:  # the probed lists held < k: search them all
            s2, i2 = self._index.search(q[short], kk,
                                        params=self._search_params(True, selector))
            scores[short], ids[short] = s2, i2
        return scores.astype(np.float32, copy=False), ids.astype(np.int64, copy=False)

    def _search_params(self, exhaustive: bool = False, sel: Any = None) -> Any:
        faiss = _faiss()

        if not self._factory.is_ivf:
            return None if sel is None else faiss.SearchParameters(sel=sel)
        nprobe = self._factory.nlist if exhaustive else self._manifest["search_params"]["nprobe"]
        if sel is None:
            return faiss.SearchParametersIVF(nprobe=int(nprobe))
        return faiss.SearchParametersIVF(nprobe=int(nprobe), sel=sel)

    # -- updates -----------------------------------------------------------------------------

    def add(self, vectors: npt.ArrayLike, ids: npt.ArrayLike) -> None:
        """Add vectors under ids; an id already present has its vector replaced."""
        x = _as_vectors(vectors, self.dim, "vectors")
        keys = _as_ids(ids, len(x))
        if len(keys) == 0:
            return
        self._remove_ids(keys)
        _add_in_chunks(self._index, x, keys)
        self._after_update(len(keys))

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids (absent ones are ignored); returns how many vectors were removed."""
        keys = np.unique(_as_ids(ids, None, unique=False))
        removed = self._remove_ids(keys) if len(keys) else 0
        self._after_update(removed)
        return removed

    def _remove_ids(self, keys: Ids) -> int:
        if not self._factory.is_ivf:  # IDMap2: a hashed selector (IDSelectorBatch)
            return int(self._index.remove_ids(keys))
        faiss = _faiss()

        keys = np.ascontiguousarray(keys, dtype=np.int64)  # a hash-table direct map needs an array
        return int(self._index.remove_ids(faiss.IDSelectorArray(len(keys), faiss.swig_ptr(keys))))

    def _after_update(self, changed: int = 0) -> None:
        self._manifest["count"] = int(self._index.ntotal)
        drift = self._manifest.setdefault("drift", {"imbalance_at_build": 1.0,
                                                    "changed_since_probe": 0, "probes": []})
        drift["changed_since_probe"] = int(drift.get("changed_since_probe", 0)) + changed
        if not self.needs_rebuild:
            return
        if self._factory.lossless:
            log.info("%s holds %d vectors: rebuilding", self.factory, len(self))
            self.rebuild()
        else:
            log.warning("%s holds %d vectors, outside the range it was built for (%d): call "
                        "rebuild(vectors, ids) with the original vectors", self.factory, len(self),
                        self._manifest["trained_for"])

    @property
    def needs_rebuild(self) -> bool:
        """Whether the index has left the size range its factory was chosen for."""
        n = len(self)
        if not self._factory.is_ivf:
            budget = self._manifest["build"]["memory_budget_bytes"]
            try:
                return choose_factory(n, self.dim, budget) != self.factory
            except UsageError as exc:  # nothing fits the budget: a rebuild would not help
                log.warning("%s: %s", self, exc)
                return False
        trained = self._manifest["trained_for"]
        return n > REGROW_FACTOR * trained or n * REGROW_FACTOR < trained

    def retrain_reason(self, probe_queries: npt.ArrayLike | None = None,
                       probe_every: float = PROBE_EVERY) -> str | None:
        """Why the index should be trained again after in-place updates, or None.

        Measured, not scheduled: the size left the range its factory was chosen for; or (IVF)
        the lists grew unbalanced (imbalance factor over ``IMBALANCE_LIMIT`` × its value at
        build time: vectors pile into few lists when the data drift from the centroids); or a
        recall probe — run once ``probe_every`` of the index changed since the last one, with
        ``probe_queries`` (e.g. recently added vectors) against an exhaustive scan — falls
        below the recall target even after raising ``nprobe`` up to ``NPROBE_LIMIT`` × its tuned
        value. A probe that passes only with a higher ``nprobe`` keeps that value.
        """
        if self.needs_rebuild:
            return (f"{len(self)} vectors left the range {self.factory} was chosen for "
                    f"(trained on {self._manifest['trained_for']})")
        if not self._factory.is_ivf or len(self) == 0:
            return None
        drift = self._manifest.setdefault("drift", {"imbalance_at_build": 1.0,
                                                    "changed_since_probe": 0, "probes": []})
        built = float(drift.get("imbalance_at_build", 1.0))
        now = _imbalance(self._index)
        if now > IMBALANCE_LIMIT * max(built, 1.0):
            return (f"IVF lists are unbalanced: imbalance factor {now:.2f}, {built:.2f} when "
                    f"trained")
        if probe_queries is None or int(drift.get("changed_since_probe", 0)) < probe_every * len(
                self):
            return None
        q = _as_vectors(probe_queries, self.dim, "probe queries")[:PROBE_QUERIES]
        if not len(q):
            return None
        k = min(RECALL_AT, len(self))
        _, truth = self._index.search(q, k, params=self._search_params(exhaustive=True))
        target = float(self._manifest["build"]["recall_target"])
        tuned = int(self._manifest["search_params"]["nprobe"])
        nprobe, recall = tuned, 0.0
        while True:
            faiss = _faiss()
            _, found = self._index.search(q, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
            recall = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)
                         ) / max(1, truth.size)
            if recall >= target or nprobe >= min(self._factory.nlist, NPROBE_LIMIT * tuned):
                break
            nprobe = min(self._factory.nlist, NPROBE_LIMIT * tuned, 2 * nprobe)
        drift["changed_since_probe"] = 0
        drift["probes"] = [*drift.get("probes", [])[-9:], {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "count": len(self),
            "queries": len(q), "recall": round(recall, 4), "nprobe": nprobe}]
        if recall < target:
            return (f"recall@{k} fell to {recall:.3f} (target {target:.2f}) on {len(q)} probe "
                    f"queries even at nprobe={nprobe}")
        if nprobe != tuned:
            log.info("index: recall probe %.3f needs nprobe %d (was %d)", recall, nprobe, tuned)
            self._manifest["search_params"]["nprobe"] = nprobe
        return None

    def rebuild(
        self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None
    ) -> None:
        """Build afresh (factory re-chosen, retrained, retuned) from the stored or given vectors.

        Compressed indexes (SQ8, PQ) cannot give their vectors back exactly, so they need the
        originals. Build settings and metadata are kept.
        """
        if vectors is None or ids is None:
            if vectors is not None or ids is not None:
                raise UsageError("rebuild: pass both vectors and ids, or neither")
            if not self._factory.lossless:
                raise UsageError(f"rebuild: {self.factory} stores compressed vectors; pass the "
                                 "original vectors and ids")
            vectors, ids = self._stored()
        settings = self._manifest["build"]
        fresh = VectorIndex.build(vectors, ids, settings["memory_budget_bytes"],
                                  settings["recall_target"], settings["seed"], self.metadata)
        self._index, self._manifest, self._factory = fresh._index, fresh._manifest, fresh._factory

    def _stored(self) -> tuple[Vectors, Ids]:
        """All stored (vectors, ids); exact for Flat codecs."""
        faiss = _faiss()

        if not self._factory.is_ivf:
            keys = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return faiss.downcast_index(self._index.index).reconstruct_n(0, len(keys)), keys
        keys = _ivf_ids(self._index)
        if len(keys) == 0:
            return np.zeros((0, self.dim), np.float32), keys
        return self._index.reconstruct_batch(keys), keys

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the index into ``directory`` atomically.

        The index goes to a temporary file, renamed to a content-addressed ``index-<sha>.faiss``;
        then ``manifest.json`` (naming that file, its size and sha256) replaces the old manifest
        with one ``os.replace`` — the commit point. Until then the previous index stays the one
        that loads; files it no longer names are deleted afterwards.
        """
        faiss = _faiss()

        path = Path(directory)
        token = uuid.uuid4().hex[:12]
        tmp_index, tmp_manifest = path / f".index-{token}.tmp", path / f".manifest-{token}.tmp"
        try:
            path.mkdir(parents=True, exist_ok=True)
            faiss.write_index(self._index, str(tmp_index))
            digest, size = _sha256(tmp_index)
            name = f"index-{digest[:16]}.faiss"
            _fsync(tmp_index)
            os.replace(tmp_index, path / name)
            manifest = copy.deepcopy(self._manifest)
            manifest["count"] = int(self._index.ntotal)
            manifest["saved"] = datetime.now(UTC).isoformat(timespec="seconds")
            manifest["files"] = {name: {"sha256": digest, "size": size}}
            tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            _fsync(tmp_manifest)
            os.replace(tmp_manifest, path / MANIFEST)
            _fsync(path)
        except (OSError, RuntimeError) as exc:
            raise LibraryError(f"{path}: cannot save the vector index: {exc}") from exc
        finally:
            for tmp in (tmp_index, tmp_manifest):
                tmp.unlink(missing_ok=True)
        self._manifest = manifest
        for old in path.glob("index-*.faiss"):
            if old.name != name:
                try:
                    old.unlink()
                except OSError as exc:
                    log.warning("%s: cannot remove the superseded index file: %s", old, exc)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> VectorIndex:
        """Read an index saved by :meth:`save`, checking it against its manifest."""
        faiss = _faiss()

        path = Path(directory)
        if not path.is_dir():
            raise LibraryError(f"{path}: no vector index here (not a directory)")
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise _corrupt(path, f"cannot read {MANIFEST}: {exc}") from exc
        name = _check_manifest(path, manifest)
        file = path / name
        expected = manifest["files"][name]
        if not file.is_file():
            raise _corrupt(path, f"{name} named by {MANIFEST} is missing")
        if file.stat().st_size != expected["size"]:
            raise _corrupt(path, f"{name} is {file.stat().st_size} bytes, the manifest says "
                                 f"{expected['size']} (truncated or replaced)")
        if _sha256(file)[0] != expected["sha256"]:
            raise _corrupt(path, f"{name} does not match its sha256 in {MANIFEST} (corrupted)")
        try:
            index = faiss.read_index(str(file))
        except RuntimeError as exc:
            raise _corrupt(path, f"FAISS cannot read {name}: {exc}") from exc
        found = {"dimension": int(index.d), "count": int(index.ntotal),
                 "metric": "ip" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "other",
                 "factory": _describe(index)}
        for key, value in found.items():
            if manifest[key] != value:
                raise _corrupt(path, f"manifest {key} is {manifest[key]!r}, index has {value!r}")
        if Factory.parse(manifest["factory"]).is_ivf:
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # no-op when saved with it
        return cls(index, manifest)

    # -- properties --------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"VectorIndex({self.factory!r}, n={len(self)}, d={self.dim})"

    @property
    def dim(self) -> int:
        return int(self._manifest["dimension"])

    @property
    def factory(self) -> str:
        return str(self._manifest["factory"])

    @property
    def metric(self) -> str:
        return METRIC

    @property
    def search_params(self) -> dict[str, int]:
        return dict(self._manifest["search_params"])

    @property
    def metadata(self) -> dict[str, Any]:
        return copy.deepcopy(self._manifest["metadata"])

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the caller's metadata (JSON-able) recorded in the manifest."""
        self._manifest["metadata"] = json.loads(json.dumps(metadata))

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest (as last built, updated or saved)."""
        manifest = copy.deepcopy(self._manifest)
        manifest["count"] = len(self)
        return manifest


# -- helpers ---------------------------------------------------------------------------------


def _as_vectors(vectors: npt.ArrayLike, dim: int | None, what: str) -> Vectors:
    """Check shape and values; return C-contiguous float32 rows of unit norm."""
    try:
        x = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what}: cannot be read as float32: {exc}") from exc
    expected = f"(n, {dim})" if dim is not None else "(n, d)"
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim) or x.shape[1] == 0:
        raise UsageError(f"{what}: shape {np.shape(vectors)}, expected {expected}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise UsageError(f"{what}: shape {x.shape} has NaN or inf values (first in row {bad})")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise UsageError(f"{what}: shape {x.shape} has zero rows (first: "
                         f"{int(np.flatnonzero(norms == 0)[0])}); they have no direction")
    if np.abs(norms - 1).max(initial=0.0) > 1e-6 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x / norms[:, None], dtype=np.float32)
    return x


def _as_ids(ids: npt.ArrayLike, n: int | None, unique: bool = True) -> Ids:
    keys = np.asarray(ids)
    if keys.ndim != 1 or (n is not None and len(keys) != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise UsageError(f"ids: shape {keys.shape}, expected {want} to match the vectors")
    if len(keys) and not np.issubdtype(keys.dtype, np.integer):
        raise UsageError(f"ids: dtype {keys.dtype}, expected integers")
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    if len(keys) and keys.min() < 0:
        raise UsageError(f"ids: must be non-negative (FAISS uses -1 for 'none'), got {keys.min()}")
    if unique and len(np.unique(keys)) != len(keys):
        raise UsageError("ids: duplicates within one call")
    return keys


def _train_ivf(index: Any, x: Vectors, nlist: int, seed: int) -> None:
    """Train the coarse quantizer (and codec) on a seeded sample of 40 vectors per list."""
    n_train = TRAIN_MAX_PER_LIST * nlist
    if hasattr(index, "pq"):
        n_train = max(n_train, PQ_MIN_TRAIN)
        index.do_polysemous_training = False  # only for Hamming-filtered search, which we skip
    n_train = min(len(x), n_train)
    sample = x
    if n_train < len(x):
        sample = x[np.sort(np.random.default_rng(seed).choice(len(x), n_train, replace=False))]
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = seed
    index.cp.spherical = True  # unit-norm centroids: inner product then ranks lists like cosine
    index.train(sample)


def _add_in_chunks(index: Any, x: Vectors, keys: Ids, chunk: int = 65_536) -> None:
    for start in range(0, len(x), chunk):
        index.add_with_ids(x[start:start + chunk], keys[start:start + chunk])


def _tune_nprobe(index: Any, x: Vectors, keys: Ids, nlist: int, target: float,
                 seed: int) -> tuple[int, dict[str, Any]]:
    """Smallest nprobe whose recall@10 on perturbed data queries reaches ``target``."""
    faiss = _faiss()

    rng = np.random.default_rng(seed + 1)
    k = min(RECALL_AT, len(x))
    source = x[np.sort(rng.choice(len(x), min(TUNE_QUERIES, len(x)), replace=False))]
    # Push each query away by the median distance from a vector to its 10th neighbour, so
    # queries are not stored vectors (whose first neighbour is themselves) and are harder.
    sims, _ = faiss.knn(source, x, min(k + 1, len(x)), metric=faiss.METRIC_INNER_PRODUCT)
    spread = float(np.median(np.sqrt(np.clip(2 - 2 * sims[:, -1], 0, None))))
    noise = rng.standard_normal(source.shape).astype(np.float32)
    noise *= spread / np.linalg.norm(noise, axis=1, keepdims=True)
    queries = _as_vectors(source + noise, x.shape[1], "tuning queries")
    _, rows = faiss.knn(queries, x, k, metric=faiss.METRIC_INNER_PRODUCT)
    truth = keys[rows]

    measured: dict[int, float] = {}

    def recall(nprobe: int) -> float:
        if nprobe not in measured:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            _, found = index.search(queries, k, params=params)
            hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
            measured[nprobe] = hits / truth.size
        return measured[nprobe]

    lo, hi = 0, 1  # recall(lo) < target (lo = 0: untested); find the first hi that reaches it
    while recall(hi) < target and hi < nlist:
        previous = recall(hi)
        lo, hi = hi, min(2 * hi, nlist)
        if hi >= 8 and recall(hi) - previous < 0.002 and recall(hi) < target:
            break  # a compressed codec's plateau: more probes do not help
    if recall(hi) >= target:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if recall(mid) >= target else (mid, hi)
        nprobe = hi
    else:
        best = max(measured.values())
        nprobe = min(p for p, r in measured.items() if r >= best)
    result = {"target": target, "measured": round(recall(nprobe), 4),
              "reached": recall(nprobe) >= target, "at_k": k, "queries": len(queries),
              "exact": False}
    return nprobe, result


def _imbalance(index: Any) -> float:
    """FAISS's imbalance factor of an IVF index's lists (1.0 = perfectly even)."""
    lists = index.invlists
    sizes = np.fromiter((lists.list_size(i) for i in range(lists.nlist)), np.int64, lists.nlist)
    n = int(sizes.sum())
    return float(lists.nlist * (sizes.astype(np.float64) ** 2).sum() / (n * n)) if n else 1.0


def _ivf_ids(index: Any) -> Ids:
    faiss = _faiss()

    lists = index.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
             for i in range(lists.nlist) if lists.list_size(i) > 0]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _describe(index: Any) -> str:
    """The factory string that would have made ``index``, or a description of what it is."""
    faiss = _faiss()

    if isinstance(index, faiss.IndexIDMap2):
        if isinstance(faiss.downcast_index(index.index), faiss.IndexFlat):
            return "IDMap2,Flat"
    elif isinstance(index, faiss.IndexIVFFlat):
        return f"IVF{index.nlist},Flat"
    elif isinstance(index, faiss.IndexIVFScalarQuantizer):
        if index.sq.qtype == faiss.ScalarQuantizer.QT_8bit:
            return f"IVF{index.nlist},SQ8"
    elif isinstance(index, faiss.IndexIVFPQ) and index.pq.nbits == 8:
        return f"IVF{index.nlist},PQ{index.pq.M}"
    return type(index).__name__


def _check_manifest(path: Path, manifest: Any) -> str:
    """Validate the manifest's shape; return the index file name it names."""
    required = {"format": int, "dimension": int, "count": int, "factory": str, "metric": str,
                "trained_for": int, "search_params": dict, "recall": dict, "build": dict,
                "metadata": dict, "files": dict}
    if not isinstance(manifest, dict):
        raise _corrupt(path, f"{MANIFEST} is not a JSON object")
    for key, kind in required.items():
        if not isinstance(manifest.get(key), kind):
            raise _corrupt(path, f"{MANIFEST} lacks {key!r} (or it is not a {kind.__name__})")
    if manifest["format"] != FORMAT_VERSION:
        raise _corrupt(path, f"{MANIFEST} format {manifest['format']}, expected {FORMAT_VERSION}")
    if manifest["metric"] != METRIC:
        raise _corrupt(path, f"{MANIFEST} metric {manifest['metric']!r}, expected {METRIC!r}")
    try:
        factory = Factory.parse(manifest["factory"])
    except UsageError as exc:
        raise _corrupt(path, str(exc)) from exc
    if factory.is_ivf and not isinstance(manifest["search_params"].get("nprobe"), int):
        raise _corrupt(path, f"{MANIFEST} lacks search_params.nprobe for {factory.text}")
    files = manifest["files"]
    names = list(files)
    if len(names) != 1 or not re.fullmatch(r"index-[0-9a-f]{16}\.faiss", names[0]):
        raise _corrupt(path, f"{MANIFEST} should name one index-<sha>.faiss file, has {names}")
    entry = files[names[0]]
    if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int)):
        raise _corrupt(path, f"{MANIFEST} entry for {names[0]} lacks sha256/size")
    return names[0]


def _corrupt(path: Path, reason: str) -> IndexCorruptError:
    library = path.parent if path.name == "index" else "DIR"
    return IndexCorruptError(f"{path}: vector index does not match its manifest: {reason}; "
                             f"rebuild it from the catalog with "
                             f"`media-ml reindex --library {library}`")


def _faiss() -> Any:
    """FAISS, imported on first use (it is heavy); typed Any since its bundled stubs are partial."""
    import faiss

    return faiss


def _sha256(file: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with file.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
