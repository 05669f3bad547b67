"""Artwork suggestions against simple baselines on a clip with planted good and bad frames.

    python benchmarks/suggest.py [--model untrained] [--out benchmarks/media/suggest]

The clip (1280x720, built with sample_media/make_samples.py) mixes sharp, well-exposed shots
(two of them showing a face) with blurred and dark shots, a flash, dissolves, a fade and a wipe,
and repeats two photographs so near-duplicates exist. Per context we report, for our ranker and
for two baselines (the middle frame of each shot, longest shots first; the sharpest frame of
each shot, sharpest first; both centre-cropped):

* P@5      share of the top 5 that are good frames (clean frame of a good shot, not a flash)
* bad      how many top-5 frames are bad (blurred, dark, black, flash, mid-transition)
* dup      share of top-5 pairs that show the same photograph
* faces    share of top-5 crops containing a face that keep every face whole
  (faces found by OpenCV's Haar cascade on the full frame)

Goals: no bad frame and no duplicate pair in any top 5; P@5 >= 0.9; faces kept >= 95 %;
``Library.suggest`` for one title < 1 s from a warm library.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_media"))

import make_samples as ms  # noqa: E402

from media_ml.extractors import video  # noqa: E402
from media_ml.extractors.signals import detect_faces, sharpness  # noqa: E402
from media_ml.library import Library  # noqa: E402
from media_ml.ranking.contexts import get_context  # noqa: E402
from media_ml.ranking.crops import cuts_a_face  # noqa: E402
from media_ml.ranking.sheet import write_suggestions  # noqa: E402

CONTEXTS = ("tv-billboard", "web-row", "mobile-boxart", "square")
K = 5


def plan() -> ms.Plan:
    return (
        ms.Plan()
        .shot("astronaut", 60, ms.flash(30, 2)).cut()
        .shot("coffee", 48).dissolve(16)
        .shot("chelsea", 48, quality="blurred").cut()
        .shot("rocket", 48).fade(6, 6, 6)
        .shot("motorcycle", 48, quality="dark").cut()
        .shot("camera", 48).dissolve(12)
        .shot("immunohistochemistry", 48).cut()
        .shot("hubble_deep_field", 40, quality="blurred").wipe(12)
        .shot("astronaut", 48).cut()  # the same photograph again: a near-duplicate
        .shot("retina", 48).cut()
        .shot("coins", 48, quality="dark").cut()
        .shot("coffee", 40).cut()  # near-duplicate of shot 1
        .shot("clock", 48)
    )


def build(media: Path) -> Path:
    path = media / "suggest_bench.mp4"
    if not path.exists():
        ms.write_clip(plan(), path, name="suggest_bench", fps=24, size=(1280, 720), seed=5)
    return path


def frame_labels(truth: dict) -> tuple[dict[int, str], dict[int, str]]:
    """Per frame: ``good``/a bad reason, and the photograph shown."""
    label: dict[int, str] = {}
    photo: dict[int, str] = {}
    for t in truth["transitions"]:
        for f in range(t["start"], t["end"]):
            label[f] = "mid-transition"
    for s in truth["shots"]:
        for f in range(s["start"], s["end"]):
            label[f] = "good" if s["quality"] == "good" else s["quality"]
            photo[f] = s["photo"]
    for d in truth["distractors"]:
        if d["type"] == "flash":
            for f in range(d["start"], d["end"]):
                label[f] = "flash"
    return label, photo


def centre_crop(w: int, h: int, aspect: tuple[int, int]) -> tuple[int, int, int, int]:
    k = min(w // aspect[0], h // aspect[1])
    cw, ch = k * aspect[0], k * aspect[1]
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def metrics(picks: list[tuple[int, tuple[int, int, int, int]]], label: dict[int, str],
            photo: dict[int, str], faces: dict[int, list]) -> dict[str, float]:
    top = picks[:K]
    good = sum(label.get(f) == "good" for f, _ in top)
    pairs = list(itertools.combinations(top, 2))
    dup = sum(photo.get(a[0]) == photo.get(b[0]) for a, b in pairs)
    with_face = [(f, c) for f, c in top if faces[f]]
    kept = sum(not cuts_a_face(faces[f], *c) for f, c in with_face)
    return {"p5": good / max(1, len(top)), "bad": len(top) - good,
            "dup": dup / max(1, len(pairs)),
            "faces": kept / len(with_face) if with_face else float("nan"), "n": len(top)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="untrained")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "media" / "suggest"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip = build(out.parent)
    truth = ms.json.loads(clip.with_suffix(".json").read_text())
    label, photo = frame_labels(truth)
    lib_dir = out / "library"
    lib = Library(lib_dir)
    lib.ingest([clip], model=args.model, workers=2, progress=False)
    vid = lib.videos()[0]
    shots = lib.shots(vid.id)
    info = video.probe(clip)
    # Baselines need every frame's sharpness: one decoding pass at 640 px.
    sharp = {}
    seg = video.plan_segments(info, 1e9)[0]
    for i, fr in video.iter_segment_frames(seg):
        sharp[i] = sharpness(video.frame_to_rgb(fr, 0, max_side=640))
    middle = sorted(((s.start_frame + s.end_frame) // 2, s.end_frame - s.start_frame)
                    for s in shots)
    by_len = [f for f, _ in sorted(middle, key=lambda x: -x[1])]
    sharpest = sorted((max(range(s.start_frame, s.end_frame), key=lambda f: sharp[f])
                       for s in shots), key=lambda f: -sharp[f])
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}; model {args.model}; clip {clip.name} "
          f"{info.width}x{info.height}, {info.frames} frames, {len(shots)} shots detected")
    face_cache: dict[int, list] = {}

    def faces_of(frames: list[int]) -> None:
        need = [f for f in frames if f not in face_cache]
        for i, fr in video.iter_frames_at(str(clip), video.frame_targets(info, need)):
            face_cache[i] = [(b.x, b.y, b.w, b.h) for b in detect_faces(video.frame_to_rgb(fr))]

    rows = []
    latencies = {}
    for name in CONTEXTS:
        ctx = get_context(name)
        lib.suggest(vid.id, name, k=K)  # warm: text model, caches
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            cands = lib.suggest(vid.id, name, k=K)
            times.append(time.perf_counter() - t0)
        latencies[name] = (statistics.median(times), max(times))
        ours = [(c.frame, (c.crop["x"], c.crop["y"], c.crop["w"], c.crop["h"])) for c in cands]
        cc = centre_crop(info.width, info.height, ctx.aspect)
        base_mid = [(f, cc) for f in by_len]
        base_sharp = [(f, cc) for f in sharpest]
        faces_of([f for f, _ in ours + base_mid[:K] + base_sharp[:K]])
        for method, picks in (("ours", ours), ("middle frame", base_mid),
                              ("sharpest frame", base_sharp)):
            m = metrics(picks, label, photo, face_cache)
            rows.append((name, method, m))
        sugg = lib.suggest(vid.id, name, k=K)
        write_suggestions(lib, sugg, out / name)
    print(f"\n{'context':<14} {'method':<15} {'P@5':>5} {'bad':>4} {'dup':>5} {'faces':>6} "
          f"{'n':>3}")
    for name, method, m in rows:
        faces = "  n/a" if m["faces"] != m["faces"] else f"{m['faces']:6.0%}"
        print(f"{name:<14} {method:<15} {m['p5']:5.2f} {m['bad']:>4} {m['dup']:5.2f} {faces:>6} "
              f"{m['n']:>3}")
    print("\nLibrary.suggest latency (warm, 5 runs): "
          + ", ".join(f"{n} median {a * 1000:.0f} ms / max {b * 1000:.0f} ms"
                      for n, (a, b) in latencies.items()))
    ours_rows = [m for _, method, m in rows if method == "ours"]
    goals = {
        "no bad frame in any top 5": all(m["bad"] == 0 for m in ours_rows),
        "no near-duplicate pair in any top 5": all(m["dup"] == 0 for m in ours_rows),
        "P@5 >= 0.9": all(m["p5"] >= 0.9 for m in ours_rows),
        "faces kept whole >= 95%": all(m["faces"] != m["faces"] or m["faces"] >= 0.95
                                       for m in ours_rows),
        "suggest < 1 s warm": all(b < 1.0 for _, b in latencies.values()),
    }
    print("\n" + "\n".join(f"{'MET ' if ok else 'MISSED'} {g}" for g, ok in goals.items()))
    print(f"contact sheets: {out}/<context>/index.html")
    lib.close()
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
