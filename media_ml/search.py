"""Similarity search over a library: text → frame, image → frame, frame → frame, and
near-duplicate shots. The catalog's stored vectors are the truth; ``DIR/index`` is derived from
them and rebuilt when it lags behind (e.g. after a crash between a commit and the index save).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import IndexCorruptError, UsageError

log = logging.getLogger(__name__)

INDEX_DIR = "index"


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


def _metadata(catalog: Any) -> dict[str, Any]:
    model = catalog.model()
    return {"model": model[0] if model else None, "weights": model[1] if model else None,
            "generation": catalog.generation()}


def rebuild_index(catalog: Any, memory_budget_bytes: int | None = None) -> Any:
    """Build ``DIR/index`` from the catalog's vectors and save it atomically."""
    from media_ml.indexes.vector import VectorIndex

    ids, vecs = catalog.vectors()
    if not len(ids):
        raise UsageError(f"{catalog.root}: the library holds no embeddings; ingest videos with "
                         f"a model (media-ml ingest PATH --library {catalog.root} --model SPEC)")
    index = VectorIndex.build(vecs, ids, memory_budget_bytes=memory_budget_bytes,
                              metadata=_metadata(catalog))
    index.save(catalog.root / INDEX_DIR)
    log.info("index rebuilt: %d vectors, %s", len(index), index.factory)
    return index


def sync_index(catalog: Any) -> Any:
    """The library's index at the catalog's current generation (rebuilt if behind or broken)."""
    from media_ml.indexes.vector import VectorIndex

    d = catalog.root / INDEX_DIR
    if (d / "manifest.json").exists():
        try:
            index = VectorIndex.load(d)
            if index.metadata.get("generation") == catalog.generation():
                return index
            log.info("index is behind the catalog: rebuilding")
        except IndexCorruptError as e:
            log.warning("index unusable (%s): rebuilding from the catalog", e)
    return rebuild_index(catalog)


def open_index(catalog: Any) -> Any:
    """The index for searching: errors (exit 2) when there is none or it is corrupt."""
    from media_ml.indexes.vector import VectorIndex

    d = catalog.root / INDEX_DIR
    if not (d / "manifest.json").exists():
        if catalog.model() is None:
            raise UsageError(f"{catalog.root}: library has no index (no embeddings); ingest with "
                             f"a model or run `media-ml reembed --library {catalog.root} "
                             f"--model SPEC`")
        return rebuild_index(catalog)
    index = VectorIndex.load(d)  # IndexCorruptError names `media-ml reindex`
    if index.metadata.get("generation") != catalog.generation():
        log.warning("index is behind the catalog: rebuilding it")
        return rebuild_index(catalog)
    return index


def query_vector(catalog: Any, embedder: Any, *, text: str | None = None,
                 image: str | Path | None = None, keyframe: int | None = None) -> np.ndarray:
    """The embedding of exactly one query."""
    given = [x is not None for x in (text, image, keyframe)]
    if sum(given) != 1:
        raise UsageError("give exactly one of text, image or keyframe")
    if text is not None:
        if not text.strip():
            raise UsageError("empty text query")
        return np.asarray(embedder().embed_texts([text])[0], np.float32)
    if image is not None:
        import cv2

        p = Path(image)
        if not p.is_file():
            raise UsageError(f"{p}: no such image file")
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise UsageError(f"{p}: not a readable image")
        return np.asarray(embedder().embed_images([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)])[0],
                          np.float32)
    row = catalog.conn.execute("SELECT vector FROM vectors WHERE keyframe_id=?",
                               (int(keyframe),)).fetchone()  # type: ignore[arg-type]
    if row is None:
        known = catalog.conn.execute("SELECT 1 FROM keyframes WHERE id=?",
                                     (int(keyframe),)).fetchone()  # type: ignore[arg-type]
        raise UsageError(f"unknown keyframe id {keyframe}" if known is None
                         else f"keyframe {keyframe} has no embedding")
    return np.frombuffer(row[0], np.float32).copy()


def search(catalog: Any, embedder: Any, *, text: str | None = None,
           image: str | Path | None = None, keyframe: int | None = None, k: int = 10,
           video: int | None = None, index: Any = None) -> list[Hit]:
    """Top-``k`` keyframes for one query; ``video`` restricts to one video (exact search).

    ``index`` returns the loaded index (a library keeps it warm); default: load it now.
    """
    if k <= 0:
        raise UsageError(f"k must be >= 1, got {k}")
    if catalog.model() is None:
        raise UsageError(f"{catalog.root}: library has no index (no embeddings)")
    if video is not None and not any(v.id == video for v in catalog.videos()):
        raise UsageError(f"unknown video id {video}")
    q = query_vector(catalog, embedder, text=text, image=image, keyframe=keyframe)
    extra = 1 if keyframe is not None else 0
    if video is not None:
        ids, vecs = catalog.vectors(video)
        scores = vecs @ q if len(ids) else np.zeros(0, np.float32)
        order = np.argsort(-scores, kind="stable")[: k + extra]
        found = [(int(ids[i]), float(scores[i])) for i in order]
    else:
        loaded = index() if index is not None else open_index(catalog)
        s, i = loaded.search(q[None, :], k + extra)
        found = [(int(a), float(b)) for a, b in zip(i[0], s[0], strict=True) if a >= 0]
    if keyframe is not None:
        found = [f for f in found if f[0] != int(keyframe)]
    found = found[:k]
    rows = catalog.keyframe_rows([f[0] for f in found])
    return [Hit(keyframe_id=f[0], video_id=rows[f[0]]["video_id"],
                shot_index=rows[f[0]]["shot_index"], time_s=rows[f[0]]["time_s"], score=f[1],
                thumbnail=rows[f[0]]["thumbnail"]) for f in found if f[0] in rows]


def duplicate_groups(catalog: Any, threshold: float = 0.95, neighbours: int = 10,
                     index: Any = None) -> list[dict[str, Any]]:
    """Groups of near-duplicate shots across the library (cosine ≥ ``threshold``).

    Shots are linked when any of their keyframes are that close; groups are the connected
    components with at least two shots, each listing its shots earliest first.
    """
    if not 0 < threshold <= 1:
        raise UsageError(f"threshold must be in (0, 1], got {threshold}")
    ids, vecs = catalog.vectors()
    if not len(ids):
        raise UsageError(f"{catalog.root}: library has no index (no embeddings)")
    loaded = index() if index is not None else open_index(catalog)
    rows = catalog.keyframe_rows(ids.tolist())
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
