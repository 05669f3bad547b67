"""``media-ml repair``: make a library's derived files whole again from what it holds.

Thumbnails that went missing are decoded anew from their source (only if the source is the file
that was ingested), thumbnail folders that no video refers to (left by a crash before a commit)
are removed, and the vector index is brought up to the catalog's state. The catalog itself (what
people put in) is never rewritten here.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import TYPE_CHECKING, Any

from media_ml.errors import MediaMLError

if TYPE_CHECKING:
    from media_ml.library import Library

log = logging.getLogger(__name__)


def repair(lib: Library, progress: bool = True) -> dict[str, Any]:
    """Restore missing thumbnails, drop unreferenced folders, sync the index (writer lock held
    by the caller). Returns counts and the problems that could not be repaired."""
    from tqdm import tqdm

    from media_ml.extractors import video
    from media_ml.extractors.keyframes import KeyframeConfig
    from media_ml.extractors.signals import encode_jpeg
    from media_ml.search import sync_index

    cfg = KeyframeConfig()
    restored = 0
    problems: list[str] = []
    videos = lib.videos()
    for v in tqdm(videos, desc="repair", unit="video", disable=not progress):
        missing = [k for k in lib.keyframes(v.id) if not os.path.isfile(k.thumbnail)]
        if not missing:
            continue
        try:
            lib.check_source(v.id)
            if any(k.pts is None for k in missing):
                targets = video.frame_targets(video.probe(v.path), [k.frame for k in missing])
            else:
                targets = sorted((k.frame, int(k.pts), k.seek_pts)  # type: ignore[arg-type]
                                 for k in missing)
            by_frame = {k.frame: k for k in missing}
            for idx, frame in video.iter_frames_at(v.path, targets, threads=0):
                rgb = video.frame_to_rgb(frame, v.rotation, max_side=cfg.analysis_side)
                path = by_frame[idx].thumbnail
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = path + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(encode_jpeg(rgb, cfg.thumbnail_side))
                os.replace(tmp, path)
                restored += 1
            still = [k.frame for k in missing if not os.path.isfile(k.thumbnail)]
            if still:
                problems.append(f"{v.path}: {len(still)} thumbnails could not be decoded "
                                f"(frames {still[:5]})")
        except MediaMLError as e:
            problems.append(str(e))
    used = lib.catalog.thumbnail_folders()
    removed = 0
    thumbs = lib.root / "thumbs"
    if thumbs.is_dir():
        for d in thumbs.iterdir():
            if d.is_dir() and f"thumbs/{d.name}" not in used:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
    index: dict[str, Any] | None = None
    if lib.catalog.vector_count():
        synced = sync_index(lib.catalog, compact=True)
        if synced is not None:
            index = {"vectors": len(synced), "factory": synced.factory}
    for p in problems:
        log.warning("not repaired: %s", p)
    return {"thumbnails_restored": restored, "folders_removed": removed, "index": index,
            "problems": problems}
