"""Throughput of the ingest embedding stage against the model's forward pass alone.

    python benchmarks/embed.py [--model untrained] [--images 256] [--batch 32] [--rounds 2]

End to end = decode the frames from a video (PyAV) → RGB at the analysis size → preprocess
(the model's own open_clip transform: PIL resize and crop, then normalise) → model, exactly as
``workers.tasks.embed_frames_task`` does. Forward only = ``encode_image`` on the same, already
preprocessed batches, same batch size and threads. The two are timed in alternating rounds, so
load from other processes on the machine falls on both alike; the ratio is of their summed
times. Preprocess only = ``ClipEmbedder.preprocess`` on the decoded frames, one thread: its cost
next to the forward pass (in ingest it runs in the decoding thread, beside the model). Goal: end
to end >= 0.9 × forward only. On CPU the architecture is ViT-B-32 with random weights: the
compute is the same as trained.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_media"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="untrained")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (ingest gives each 1-thread Dask worker 1)")
    p.add_argument("--rounds", type=int, default=2,
                   help="alternating forward-only / end-to-end rounds")
    p.add_argument("--video", default=str(ROOT / "benchmarks" / "media" /
                                          "long_180s_1280x720_30fps_seed0.mp4"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from media_ml.extractors import video
    from media_ml.extractors.clip import ModelSpec, load_embedder  # sets OMP_WAIT_POLICY
    from media_ml.workers.tasks import VideoRef, embed_frames_task

    torch = importlib.import_module("torch")  # after media_ml, as in a worker

    path = Path(args.video)
    if not path.exists():
        import make_samples

        make_samples.make_long_clip(path, seconds=180)
    spec = ModelSpec.parse(args.model)
    threads = args.threads or os.cpu_count() or 1
    emb = load_embedder(spec, threads=threads)
    info = video.probe(path)
    step = max(1, info.frames // args.images)
    frames = list(range(0, info.frames, step))[: args.images]
    targets = video.frame_targets(info, frames)
    ref = VideoRef(str(path), info.rotation, info.width, info.height)

    # Warm up both paths once.
    embed_frames_task(ref, targets[:8], spec, threads=threads)
    rgbs = [video.frame_to_rgb(f, 0, max_side=640)
            for _, f in video.iter_frames_at(str(path), targets)]
    t0 = time.perf_counter()
    pixels = [emb.preprocess(im) for im in rgbs]
    preprocess = time.perf_counter() - t0
    batches = [np.stack(pixels[i : i + args.batch]) for i in range(0, len(pixels), args.batch)]
    emb.embed_pixels(batches[0][:4])

    n = len(frames)
    forward = end_to_end = 0.0
    for _ in range(max(1, args.rounds)):
        t0 = time.perf_counter()
        for b in batches:
            emb.embed_pixels(b)
        forward += time.perf_counter() - t0

        t0 = time.perf_counter()
        out = embed_frames_task(ref, targets, spec, threads=threads)
        end_to_end += time.perf_counter() - t0
        assert len(out) == n

    rounds = max(1, args.rounds)
    cfg = emb.preprocess_cfg
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.machine())
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores ({cpu}), load average {load}; device {emb.device}; "
          f"torch {torch.__version__} threads {torch.get_num_threads()}; model {spec.name}; "
          f"preprocess {cfg.resize_mode} {cfg.interpolation} {cfg.size}; batch {args.batch}; "
          f"{n} frames of {path.name} ({info.width}x{info.height}); {rounds} rounds")
    print(f"{'stage':<34} {'images/s':>9} {'ratio':>6}")
    print(f"{'forward pass only':<34} {rounds * n / forward:9.1f} {1.0:6.2f}")
    print(f"{'decode → preprocess → model':<34} {rounds * n / end_to_end:9.1f} "
          f"{forward / end_to_end:6.2f}")
    print(f"{'preprocess only (1 thread)':<34} {n / preprocess:9.1f} "
          f"{forward / rounds / preprocess:6.2f}")
    ok = forward / end_to_end >= 0.9
    print(f"{'MET' if ok else 'MISSED'} end to end >= 0.9 × forward only")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
