"""Similarity search over a library: text → frame, image → frame, frame → frame, and
near-duplicate shots. The catalog's stored vectors are the truth; ``DIR/index`` is derived from
them and rebuilt when it lags behind (e.g. after a crash between a commit and the index save).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from media_ml.catalog import Catalog
from media_ml.errors import IndexCorruptError, UsageError

if TYPE_CHECKING:
    from media_ml.extractors.clip import ClipEmbedder
    from media_ml.indexes.vector import VectorIndex

log = logging.getLogger(__name__)

INDEX_DIR = "index"
MAX_K = 10_000


@dataclass(frozen=True)
class Hit:
    """One search result (``media-ml search --json`` hit)."""

    keyframe_id: int
    video_id: int
    shot_index: int
    time_s: float
    score: float
    thumbnail: str

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        d["time_s"] = round(self.time_s, 6)
        return d


class IndexView:
    """The saved index plus the catalog's changes since it was saved: the index as of the
    catalog's last committed state.

    Committing a video only writes the catalog; the keyframes it added and removed are the
    index's pending *delta* (``vectors_after(max_id)``, ``removed_since(generation)``) until a
    writer compacts them into the saved index (``sync_index``). Searches filter the removed
    ids inside FAISS and add an exact search over the added vectors, so every reader — in any
    process, while an ingest runs — sees exactly what is committed, and nobody waits on an
    index save.
    """

    def __init__(self, index: VectorIndex, added: tuple[np.ndarray, np.ndarray] | None = None,
                 removed: np.ndarray | None = None) -> None:
        self.index = index
        self.added_ids: np.ndarray = np.zeros(0, np.int64)
        self.added: np.ndarray = np.zeros((0, index.dim), np.float32)
        if added is not None and len(added[0]):
            self.added_ids, self.added = added
        self.removed = removed if removed is not None else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.index) + len(self.added_ids) - len(self.removed)

    @property
    def pending(self) -> int:
        """Changes not yet in the saved index."""
        return len(self.added_ids) + len(self.removed)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ``(scores, ids)`` per query, best first; ids -1 pad short rows."""
        q = np.atleast_2d(np.asarray(queries, np.float32))
        if len(self.index):
            s, i = self.index.search(q, k, exclude=self.removed)
        else:
            s, i = np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if not len(self.added_ids) and s.shape[1] == k:
            return s, i
        out_s = np.full((len(q), k), -np.inf, np.float32)
        out_i = np.full((len(q), k), -1, np.int64)
        add_s = q @ self.added.T if len(self.added_ids) else np.zeros((len(q), 0), np.float32)
        for r in range(len(q)):
            scores = np.concatenate([s[r], add_s[r]])
            ids = np.concatenate([i[r], self.added_ids])
            keep = ids >= 0
            scores, ids = scores[keep], ids[keep]
            top = np.argsort(-scores, kind="stable")[:k]
            out_s[r, : len(top)], out_i[r, : len(top)] = scores[top], ids[top]
        return out_s, out_i


# A writer compacts the pending delta into the saved index once it reaches this share of the
# index (or this many vectors): below it, reading the delta costs readers less than rewriting
# a large index file costs every ingest.
COMPACT_FRACTION = 0.05
COMPACT_MAX = 50_000


def _metadata(catalog: Catalog) -> dict[str, Any]:
    """What an index records of the catalog state it reflects (see ``_same_lineage``)."""
    model = catalog.model()
    return {**catalog.state(), "model": model[0] if model else None,
            "weights": model[1] if model else None, "max_id": catalog.max_keyframe_id()}


def _same_lineage(index: VectorIndex | dict[str, Any], catalog: Catalog) -> bool:
    """Whether an index (or its manifest) was made from this catalog, with its model, at or
    before its state."""
    if isinstance(index, dict):
        meta, dim = index.get("metadata") or {}, index.get("dimension")
    else:
        meta, dim = index.metadata, index.dim
    model = catalog.model()
    return (isinstance(meta, dict) and bool(meta.get("library_id"))
            and meta.get("library_id") == catalog.library_id
            and model is not None and meta.get("model") == model[0]
            and meta.get("weights") == model[1] and isinstance(meta.get("max_id"), int)
            and isinstance(meta.get("generation"), int)
            and meta["generation"] <= catalog.generation()
            and str(dim) == (catalog.meta("dim") or str(dim)))


def rebuild_index(catalog: Catalog, memory_budget_bytes: int | None = None,
                  save: bool = True) -> VectorIndex:
    """Build the index from the catalog's vectors; save it atomically (writers only)."""
    from media_ml.indexes.vector import VectorIndex

    meta = _metadata(catalog)
    ids, vecs = catalog.vectors()
    if not len(ids):
        raise UsageError(f"{catalog.root}: the library holds no embeddings; ingest videos with "
                         f"a model (media-ml ingest PATH --library {catalog.root} --model SPEC)")
    t0 = time.perf_counter()
    index = VectorIndex.build(vecs, ids, memory_budget_bytes=memory_budget_bytes, metadata=meta)
    if save:
        index.save(catalog.root / INDEX_DIR)
    log.info("index rebuilt: %d vectors, %s (%.1f s)", len(index), index.factory,
             time.perf_counter() - t0)
    return index


def _manifest_file(catalog: Catalog) -> str | None:
    """The index file the saved manifest names (which saved index is current), if any."""
    try:
        doc = json.loads((catalog.root / INDEX_DIR / "manifest.json").read_text())
        files = doc.get("files") if isinstance(doc, dict) else None
        return next(iter(files)) if isinstance(files, dict) and files else None
    except (OSError, ValueError):
        return None


def _load(catalog: Catalog) -> VectorIndex | None:
    """The saved index, or None when there is none. A reader may race a writer replacing it:
    a file named by a manifest that was superseded meanwhile is looked for again."""
    from media_ml.indexes.vector import VectorIndex

    d = catalog.root / INDEX_DIR
    for attempt in range(3):
        if not (d / "manifest.json").exists():
            return None
        try:
            return VectorIndex.load(d)
        except IndexCorruptError as e:
            if "is missing" not in str(e) or attempt == 2:
                raise
    return None


def _read_manifest(catalog: Catalog) -> dict[str, Any] | None:
    try:
        doc = json.loads((catalog.root / INDEX_DIR / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def sync_index(catalog: Catalog, compact: bool = False) -> VectorIndex | None:
    """Keep the saved index in step with the catalog (writers, under the writer lock).

    The catalog's changes since the saved index (its delta) are folded into it once they reach
    ``COMPACT_FRACTION`` of it (or ``COMPACT_MAX``), or always with ``compact``: removed and
    added ids are applied in place and the index saved; it is retrained only when it is not
    this catalog's or model's, or when ``VectorIndex.retrain_reason`` measures drift. Below the
    threshold only the manifest is read (no index load): the index, as loaded; else None.
    """
    t0 = time.perf_counter()
    manifest = _read_manifest(catalog)
    if manifest is not None and _same_lineage(manifest, catalog) and not compact:
        meta = manifest["metadata"]
        if meta.get("generation_id") == catalog.state()["generation_id"]:
            return None
        pending = catalog.pending_since(int(meta["max_id"]), int(meta["generation"]))
        limit = int(min(COMPACT_MAX, COMPACT_FRACTION * int(manifest.get("count", 0))))
        if pending < limit:
            log.info("index: %d changes pending in the catalog (folded in at %d; %.3f s)",
                     pending, limit, time.perf_counter() - t0)
            return None
    try:
        index = _load(catalog)
    except IndexCorruptError as e:
        log.warning("index unusable (%s): rebuilding from the catalog", e)
        index = None
    if index is None or not _same_lineage(index, catalog):
        if index is not None:
            log.warning("%s: the saved index was not made from this catalog's vectors: "
                        "rebuilding it", catalog.root)
        return rebuild_index(catalog)
    meta = index.metadata
    if meta.get("generation_id") == catalog.state()["generation_id"]:
        return index
    target = _metadata(catalog)
    removed = catalog.removed_since(int(meta["generation"]))
    added_ids, added = catalog.vectors_after(int(meta["max_id"]))
    if len(removed):
        index.remove(removed)
    if len(added_ids):
        index.add(added, added_ids)
    reason = index.retrain_reason(probe_queries=added if len(added_ids) else None)
    if reason:
        log.warning("index: retraining from the catalog: %s", reason)
        return rebuild_index(catalog)
    index.set_metadata(target)
    index.save(catalog.root / INDEX_DIR)
    log.info("index updated in place: +%d -%d vectors, %d in all (%.2f s)", len(added_ids),
             len(removed), len(index), time.perf_counter() - t0)
    return index


def current_index(catalog: Catalog, base: VectorIndex | None = None) -> IndexView:
    """The index for searching at the catalog's committed state; writes nothing.

    ``base`` is a saved index loaded earlier, reused while the manifest still names it (a
    long-running reader then only reads the delta). A saved index of this catalog is completed
    with the catalog's delta (``IndexView``); a missing or foreign one is built in memory with a
    warning naming ``media-ml reindex``; a corrupt one is an error (exit 2) naming it.
    """
    if catalog.model() is None:
        raise UsageError(f"{catalog.root}: library has no index (no embeddings); ingest with "
                         f"a model or run `media-ml reembed --library {catalog.root} "
                         f"--model SPEC`")
    name = _manifest_file(catalog)
    index = base if base is not None and name is not None and name in base.manifest.get(
        "files", {}) else _load(catalog)  # IndexCorruptError names `media-ml reindex`
    if index is None or not _same_lineage(index, catalog):
        why = "there is no saved index" if index is None else (
            "the saved index was not made from this catalog's vectors")
        log.warning("%s: %s; searching an index built in memory (run `media-ml reindex "
                    "--library %s` to save one)", catalog.root, why, catalog.root)
        return IndexView(rebuild_index(catalog, save=False))
    meta = index.metadata
    if meta.get("generation_id") == catalog.state()["generation_id"]:
        return IndexView(index)
    return IndexView(index, catalog.vectors_after(int(meta["max_id"])),
                     catalog.removed_since(int(meta["generation"])))


def query_vector(catalog: Catalog, embedder: Callable[[], ClipEmbedder], *,
                 text: str | None = None, image: str | Path | np.ndarray | None = None,
                 keyframe: int | None = None) -> np.ndarray:
    """The embedding of exactly one query."""
    given = [x is not None for x in (text, image, keyframe)]
    if sum(given) != 1:
        raise UsageError("give exactly one of text, image or keyframe")
    if text is not None:
        if not text.strip():
            raise UsageError("empty text query")
        return np.asarray(embedder().embed_texts([text])[0], np.float32)
    if image is not None:
        rgb = image if isinstance(image, np.ndarray) else read_image(image)
        return np.asarray(embedder().embed_images([rgb])[0], np.float32)
    assert keyframe is not None
    vec = catalog.vector(keyframe)
    if vec is None:
        raise UsageError(f"unknown keyframe id {keyframe}" if not catalog.has_keyframe(keyframe)
                         else f"keyframe {keyframe} has no embedding")
    return vec


def read_image(image: str | Path) -> np.ndarray:
    """An image file as RGB, refusing files and pixel counts too large to decode safely."""
    import cv2

    from media_ml.validate import image_file

    p = image_file(image, "image")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UsageError(f"{p}: not a readable image")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def search(catalog: Catalog, embedder: Callable[[], ClipEmbedder], *, text: str | None = None,
           image: str | Path | np.ndarray | None = None, keyframe: int | None = None, k: int = 10,
           video: int | None = None, index: Callable[[], IndexView] | None = None) -> list[Hit]:
    """Top-``k`` keyframes for one query; ``video`` restricts to one video (exact search).

    ``index`` returns the loaded index (a library keeps it warm); default: load it now.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise UsageError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    if catalog.model() is None:
        raise UsageError(f"{catalog.root}: library has no index (no embeddings)")
    if video is not None and catalog.video(video) is None:
        raise UsageError(f"unknown video id {video}")
    q = query_vector(catalog, embedder, text=text, image=image, keyframe=keyframe)
    extra = 1 if keyframe is not None else 0
    if video is not None:
        ids, vecs = catalog.vectors(video)
        scores = vecs @ q if len(ids) else np.zeros(0, np.float32)
        order = np.argsort(-scores, kind="stable")[: k + extra]
        found = [(int(ids[i]), float(scores[i])) for i in order]
    else:
        loaded = index() if index is not None else current_index(catalog)
        s, i = loaded.search(q[None, :], k + extra)
        found = [(int(a), float(b)) for a, b in zip(i[0], s[0], strict=True) if a >= 0]
    if keyframe is not None:
        found = [f for f in found if f[0] != int(keyframe)]
    found = found[:k]
    rows = catalog.keyframes_by_id([f[0] for f in found])
    return [Hit(keyframe_id=f[0], video_id=rows[f[0]].video_id,
                shot_index=rows[f[0]].shot_index, time_s=rows[f[0]].time_s, score=f[1],
                thumbnail=rows[f[0]].thumbnail) for f in found if f[0] in rows]


def duplicate_groups(catalog: Catalog, threshold: float = 0.95, neighbours: int = 10,
                     index: Callable[[], IndexView] | None = None) -> list[dict[str, Any]]:
    """Groups of near-duplicate shots across the library (cosine ≥ ``threshold``).

    Shots are linked when any of their keyframes are that close; groups are the connected
    components with at least two shots, each listing its shots earliest first.
    """
    if not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise UsageError(f"threshold must be in (0, 1], got {threshold}")
    ids, vecs = catalog.vectors()
    if not len(ids):
        raise UsageError(f"{catalog.root}: library has no index (no embeddings)")
    loaded = index() if index is not None else current_index(catalog)
    rows: dict[int, dict[str, Any]] = {
        i: {"keyframe_id": k.id, "video_id": k.video_id, "shot_index": k.shot_index,
            "time_s": k.time_s, "thumbnail": k.thumbnail}
        for i, k in catalog.keyframes_by_id(ids.tolist()).items()}
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    Pair = tuple[tuple[int, int], tuple[int, int]]
    best: dict[Pair, float] = {}
    for start in range(0, len(ids), 1024):
        s, nn = loaded.search(vecs[start : start + 1024], min(neighbours, len(ids)))
        for qi in range(s.shape[0]):
            a = rows[int(ids[start + qi])]
            sa = (a["video_id"], a["shot_index"])
            for sc, other in zip(s[qi], nn[qi], strict=True):
                if other < 0 or sc < threshold or int(other) not in rows:
                    continue
                b = rows[int(other)]
                sb = (b["video_id"], b["shot_index"])
                if sa != sb:
                    ra, rb = find(sa), find(sb)
                    if ra != rb:
                        parent[ra] = rb
                    pair: Pair = (min(sa, sb), max(sa, sb))
                    best[pair] = max(best.get(pair, 0.0), float(sc))
    groups: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for node in list(parent):
        groups.setdefault(find(node), set()).add(node)
    shots_info: dict[tuple[int, int], dict[str, Any]] = {}
    for r in rows.values():
        key = (r["video_id"], r["shot_index"])
        if key not in shots_info or r["time_s"] < shots_info[key]["time_s"]:
            shots_info[key] = r
    out: list[dict[str, Any]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = sorted(members)
        pair_scores = [v for (a, b), v in best.items() if a in members and b in members]
        out.append({
            "score": round(min(pair_scores), 6) if pair_scores else None,
            "shots": [{"video_id": v, "shot_index": s,
                       "keyframe_id": shots_info[(v, s)]["keyframe_id"],
                       "time_s": round(shots_info[(v, s)]["time_s"], 6),
                       "thumbnail": shots_info[(v, s)]["thumbnail"]} for v, s in ordered],
        })
    def order(g: dict[str, Any]) -> tuple[int, int, int]:
        first = g["shots"][0]
        return (-len(g["shots"]), first["video_id"], first["shot_index"])

    out.sort(key=order)
    return out
