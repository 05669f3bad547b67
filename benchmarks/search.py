"""Latency of ``Library.search`` from a warm library of 100k keyframe vectors.

    python benchmarks/search.py [--n 100000] [--queries 300]

The library is real (catalog, vectors table, FAISS index built by ``media-ml reindex``); its
keyframe rows and vectors are synthetic (clustered unit vectors, d = 512 like CLIP), because
ingesting 100k keyframes of real video is hours of decoding on this machine. Text queries go
through the real ViT-B-32 text tower (random weights: same compute as trained).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def synth_library(root: Path, n: int, d: int = 512, seed: int = 0) -> None:
    from media_ml.extractors.clip import ModelSpec, weights_identity
    from media_ml.library import Catalog

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 50), d)).astype(np.float32)
    noise = rng.normal(size=(n, d)).astype(np.float32)
    vecs = centres[rng.integers(0, len(centres), n)] + 0.6 * noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    spec = ModelSpec.parse("untrained")
    with Catalog(root) as cat:
        c = cat.conn
        c.execute("BEGIN")
        c.execute("""INSERT INTO videos (id, path, content_hash, settings, size_bytes, duration_s,
                     fps, frames, width, height, rotation, codec, start_time_s, vfr, model,
                     damage, ingested_at) VALUES (1, '/synthetic/title.mp4', 'synthetic', '', 0,
                     ?, 24, ?, 1920, 1080, 0, 'h264', 0, 0, ?, '[]', 0)""",
                  (n / 24 * 30, n * 30, spec.name))
        sig = json.dumps({"brightness": 0.5})
        c.executemany("""INSERT INTO keyframes (id, video_id, shot_index, frame, time_s, width,
                         height, signals, face_boxes, thumbnail) VALUES (?,1,?,?,?,1920,1080,?,
                         '[]','thumbs/x.jpg')""",
                      [(i + 1, i // 3, i * 30, i * 30 / 24, sig) for i in range(n)])
        c.executemany("INSERT INTO vectors VALUES (?, ?)",
                      [(i + 1, vecs[i].tobytes()) for i in range(n)])
        c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                      [("model", spec.name), ("weights", weights_identity(spec)),
                       ("dim", str(d)), ("generation", "1")])
        c.execute("COMMIT")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "media" / "search_lib"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from media_ml.library import Library

    root = Path(args.out) / f"n{args.n}"
    if not (root / "index" / "manifest.json").exists():
        t0 = time.perf_counter()
        synth_library(root, args.n)
        Library(root).reindex()
        print(f"built library of {args.n} vectors in {time.perf_counter() - t0:.1f} s")
    lib = Library(root)
    rng = np.random.default_rng(1)
    kf_ids = rng.integers(1, args.n + 1, args.queries).tolist()
    words = ["a", "dark", "kitchen", "two", "people", "arguing", "night", "car", "beach", "face"]
    texts = [" ".join(rng.choice(words, 5)) for _ in range(args.queries)]
    lib.search(keyframe=kf_ids[0], k=10)
    lib.search(text="warm up", k=10)
    lat_kf, lat_text = [], []
    for kf in kf_ids:
        t0 = time.perf_counter()
        hits = lib.search(keyframe=kf, k=10)
        lat_kf.append(time.perf_counter() - t0)
        assert len(hits) == 10
    for text in texts:
        t0 = time.perf_counter()
        lib.search(text=text, k=10)
        lat_text.append(time.perf_counter() - t0)
    manifest = json.loads((root / "index" / "manifest.json").read_text())
    print(f"machine: {os.cpu_count()} cores; index {manifest['factory']} "
          f"({manifest['count']} vectors), search params {manifest.get('search_params')}")
    print(f"{'query':<28} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'keyframe (more like this)':<28} {pct(lat_kf, 50):8.2f} {pct(lat_kf, 99):8.2f}")
    print(f"{'text (ViT-B-32 text tower)':<28} {pct(lat_text, 50):8.2f} {pct(lat_text, 99):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
