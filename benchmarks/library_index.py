"""Library-level index benchmark: what ingesting one more video costs the index of a big library,
against the rebuild it replaces.

A library of ``--n`` CLIP-like vectors (d = 512, the mixture of ``benchmarks/index.py``) in
``--videos`` titles is made directly in the catalog (synthetic vectors; no media). Then, in one
run, side by side:

* **rebuild** — ``Library.reindex()``: what every ingest batch paid before (train, add, tune, save);
* **one more video** — ``catalog.commit_video`` of a title with ``--kf`` keyframes, then the
  index step of ``Library.ingest`` (``search.sync_index``), ``--repeat`` times: median and range;
* **churn** — ``--churn`` of the titles re-ingested with new vectors (their keyframes removed and
  added), each followed by the index step: per-ingest median / p90 / max, and the compactions
  (the catalog's delta folded into the saved index) among them;
* **recall@10** against exact search over the catalog's vectors, after the churn: the index as
  readers see it (saved index + pending delta) and after a final compaction;
* **searches during a compaction**: a reader thread keeps searching while the writer compacts;
  how many queries it answered and its slowest one.

Usage (from the repository root)::

    .venv/bin/python benchmarks/library_index.py --n 1000000          # the figures in RESULTS.md
    .venv/bin/python benchmarks/library_index.py --n 30000 --videos 60  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from index import DIM, Mixture, cpu_model, recall  # noqa: E402

from media_ml.catalog import Catalog  # noqa: E402
from media_ml.library import Library  # noqa: E402
from media_ml.types import ExtractedKeyframe, Shot, Signals, VideoInfo, VideoResult  # noqa: E402

K = 10
MODEL = ("untrained-synthetic", "synthetic:benchmark")
SIGNALS = Signals(brightness=0.5, exposure=0.9, contrast=0.4, colourfulness=0.3,
                  sharpness=300.0, faces=0, face_area=0.0, face_x=None, face_y=None,
                  composition=0.5, black=False)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def video_result(path: str, vectors: np.ndarray) -> VideoResult:
    """A synthetic title: one shot per 3 keyframes, one keyframe per second."""
    n = len(vectors)
    frames = n * 24
    info = VideoInfo(path=path, width=1920, height=1080, rotation=0, fps=24.0, frames=frames,
                     duration_s=frames / 24, start_time_s=0.0, time_base=Fraction(1, 24),
                     codec="h264", pix_fmt="yuv420p", vfr=False,
                     pts=np.arange(frames, dtype=np.int64), keyframes=np.arange(0, frames, 24))
    shots = tuple(Shot(i, i * 72, min(frames, (i + 1) * 72), i * 3.0, min(n, (i + 1) * 3.0),
                       "cut" if i else None) for i in range((n + 2) // 3))
    kfs = tuple(ExtractedKeyframe(shot_index=i // 3, frame=i * 24 + 12, time_s=i + 0.5,
                                  width=1920, height=1080, signals=SIGNALS, face_boxes=(),
                                  thumbnail=b"", embedding=vectors[i]) for i in range(n))
    return VideoResult(path=path, content_hash=uuid.uuid4().hex, info=info, shots=shots,
                       keyframes=kfs)


def synth_library(root: Path, mixture: Mixture, n: int, videos: int, seed: int) -> None:
    """``n`` vectors in ``videos`` titles, written straight into a new catalog (benchmark only:
    bulk SQL is much faster than committing a million keyframes one title at a time)."""
    x = mixture.draw(n, seed=seed)
    per = n // videos
    with Catalog(root, create=True) as cat:
        c = cat.conn
        c.execute("BEGIN")
        c.executemany(
            """INSERT INTO videos (id, path, content_hash, settings, size_bytes, duration_s, fps,
               frames, width, height, rotation, codec, start_time_s, vfr, model, damage,
               ingested_at) VALUES (?, ?, ?, '', 0, ?, 24, ?, 1920, 1080, 0, 'h264', 0, 0, ?,
               '[]', 0)""",
            [(v + 1, f"/synthetic/title{v:05d}.mp4", f"h{v}", per, per * 24, MODEL[0])
             for v in range(videos)])
        sig = json.dumps(SIGNALS.as_json())
        rows = []
        for i in range(n):
            v = min(i // per, videos - 1)
            j = i - v * per
            rows.append((i + 1, v + 1, j // 3, j * 24 + 12, j + 0.5, sig))
        c.executemany("""INSERT INTO keyframes (id, video_id, shot_index, frame, time_s, width,
                         height, signals, face_boxes, thumbnail) VALUES (?,?,?,?,?,1920,1080,?,
                         '[]','thumbs/none.jpg')""", rows)
        c.executemany("INSERT INTO vectors VALUES (?, ?)",
                      ((i + 1, x[i].tobytes()) for i in range(n)))
        c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                      [("model", MODEL[0]), ("weights", MODEL[1]), ("dim", str(DIM)),
                       ("generation", "1"), ("generation_id", uuid.uuid4().hex)])
        c.execute("COMMIT")


def index_step(lib: Library) -> float:
    """The index work ``Library.ingest`` does after committing (under the writer lock)."""
    from media_ml.search import sync_index

    t0 = time.perf_counter()
    sync_index(lib.catalog)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--videos", type=int, default=1000)
    p.add_argument("--kf", type=int, default=100, help="keyframes of the one more video")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--churn", type=float, default=0.2)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "media" / "library_index"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    root = Path(args.out) / f"n{args.n}"
    shutil.rmtree(root, ignore_errors=True)
    mixture = Mixture(centres=max(64, args.n // 500), d=DIM, spread=1.0, seed=args.seed)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, python {platform.python_version()}")
    log(f"synthetic library: {args.n:,} vectors in {args.videos} titles")
    t0 = time.perf_counter()
    synth_library(root, mixture, args.n, args.videos, args.seed)
    print(f"library of {args.n:,} vectors written in {time.perf_counter() - t0:.1f} s")

    rows: list[tuple[str, str]] = []
    with Library(root) as lib:
        log("rebuild (what every ingest batch paid before)")
        t0 = time.perf_counter()
        index = lib.reindex()
        rebuild_s = time.perf_counter() - t0
        rows.append(("rebuild (Library.reindex)", f"{rebuild_s:8.2f} s   {index.factory}"))

        log(f"one more video ({args.kf} keyframes), {args.repeat} times")
        steps, commits = [], []
        extra = 0
        for r in range(args.repeat):
            vecs = mixture.draw(args.kf, seed=1000 + r)
            t0 = time.perf_counter()
            res = lib.catalog.commit_video(video_result(f"/synthetic/new{r}.mp4", vecs), "bench",
                                           MODEL)
            commits.append(time.perf_counter() - t0)
            steps.append(index_step(lib))
            extra += args.kf
            _, top = lib.index().search(vecs[:1], 3)  # readers see it at once
            assert top[0][0] == res.added[0], "new keyframes not searchable"
        rows.append(("one more video: index step",
                     f"{1000 * float(np.median(steps)):8.1f} ms median "
                     f"({1000 * min(steps):.1f}–{1000 * max(steps):.1f} ms)"))
        rows.append(("one more video: catalog commit",
                     f"{1000 * float(np.median(commits)):8.1f} ms median"))

        churned = int(args.churn * args.videos)
        per = args.n // args.videos
        log(f"churn: re-ingesting {churned} titles of {per} keyframes with new vectors")
        churn_steps: list[float] = []
        compactions: list[float] = []
        reader_stats: dict[str, float] = {"queries": 0, "slowest_ms": 0.0}
        queries = mixture.draw(args.queries, seed=7)
        for i in range(churned):
            vecs = mixture.draw(per, seed=2000 + i)
            lib.catalog.commit_video(video_result(f"/synthetic/title{i:05d}.mp4", vecs),
                                     "bench", MODEL)
            manifest = json.loads((root / "index" / "manifest.json").read_text())["files"]
            if i == churned // 2:  # a reader searching through a compaction
                stop, warm = threading.Event(), threading.Event()

                def reader(stop: threading.Event = stop, warm: threading.Event = warm) -> None:
                    with Library(root, readonly=True) as rlib:
                        rlib.index().search(queries[:1], K)  # loads the saved index once
                        warm.set()
                        while not stop.is_set():
                            t = time.perf_counter()
                            rlib.index().search(queries[:1], K)
                            reader_stats["queries"] += 1
                            reader_stats["slowest_ms"] = max(
                                reader_stats["slowest_ms"], 1000 * (time.perf_counter() - t))

                th = threading.Thread(target=reader)
                th.start()
                warm.wait()
                from media_ml.search import sync_index

                t0 = time.perf_counter()
                sync_index(lib.catalog, compact=True)
                dt = time.perf_counter() - t0
                stop.set()
                th.join()
                churn_steps.append(dt)
                compactions.append(dt)
                reader_stats["during_s"] = dt
                continue
            dt = index_step(lib)
            churn_steps.append(dt)
            if json.loads((root / "index" / "manifest.json").read_text())["files"] != manifest:
                compactions.append(dt)
        a = np.asarray(churn_steps)
        rows.append((f"churn {args.churn:.0%}: index step per ingest",
                     f"{1000 * float(np.median(a)):8.1f} ms median, p90 "
                     f"{1000 * float(np.percentile(a, 90)):.0f} ms, max {1000 * a.max():.0f} ms"))
        rows.append(("churn: compactions among them",
                     f"{len(compactions):8d}     " + (
                         f"{float(np.median(compactions)):.2f} s median, "
                         f"{sum(compactions):.1f} s in all" if compactions else "")))
        rows.append(("churn: all index steps", f"{a.sum():8.1f} s for {len(a)} ingests "
                                               f"({a.sum() / len(a):.3f} s each)"))
        rows.append(("reader during a compaction",
                     f"{int(reader_stats['queries']):8d} queries in "
                     f"{reader_stats.get('during_s', 0):.1f} s, slowest "
                     f"{reader_stats['slowest_ms']:.0f} ms"))

        log("recall@10 against exact search over the catalog")
        import faiss

        ids, vecs = lib.catalog.vectors()
        _, rows_ = faiss.knn(queries, vecs, K, metric=faiss.METRIC_INNER_PRODUCT)
        truth = ids[rows_]
        del vecs
        view = lib.index()
        _, found = view.search(queries, K)
        rows.append(("recall@10 after churn (index + pending delta)",
                     f"{recall(found, truth):8.3f}   {view.pending} changes pending"))
        from media_ml.search import sync_index

        t0 = time.perf_counter()
        sync_index(lib.catalog, compact=True)
        final_s = time.perf_counter() - t0
        _, found = lib.index().search(queries, K)
        rows.append(("recall@10 after churn (compacted)",
                     f"{recall(found, truth):8.3f}   final compaction {final_s:.1f} s"))
        manifest = json.loads((root / "index" / "manifest.json").read_text())
        rows.append(("index after churn", f"{manifest['count']:8,d}   {manifest['factory']}, "
                                          f"trained on {manifest['trained_for']:,}"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':{width}}  ours (in place) vs the rebuild it replaces ({rebuild_s:.1f} s)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\none more video: index step = {np.median(steps) / rebuild_s:.1e} × a rebuild; "
          f"churn: {a.sum() / len(a) / rebuild_s:.4f} × a rebuild per ingest, compactions "
          f"included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
