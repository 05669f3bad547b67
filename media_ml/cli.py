"""``media-ml …`` subcommands: thin, they parse, call the library and print.

Every command takes ``--json`` to print one JSON document on stdout; logs and progress go to
stderr. Exit codes: 0 success, 1 some input failed (others done) or the system failed (disk,
database), 2 usage error. Every argument is checked by the parser (``media_ml.validate``), so a
bad one is refused with its name, value and limit before any work starts; no traceback reaches
the user (``-vv`` logs it).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from media_ml.errors import IndexCorruptError, MediaMLError, ModelLoadError, UsageError
from media_ml.validate import (
    MAX_NOTE_CHARS,
    MAX_QUERY_CHARS,
    arg_type,
    bounded_float,
    bounded_int,
    bounded_text,
    image_file,
    path_text,
    record_id,
    regular_file,
    safe_name,
    show,
)

log = logging.getLogger("media_ml")

MAX_K = 1000
MAX_WORKERS = 256
MAX_THREADS = 256
MAX_MEMORY_MB = 2**20  # 1 TiB
MAX_FPS = 1000.0
MAX_TIMES = 10_000  # --at
MAX_TIME_S = 10**7  # ~115 days: longer than any video
MAX_SIDE = 16384  # --size
MAX_SPEC_CHARS = 1000  # --model, --scheduler


def _nonfinite(doc: Any, where: str = "") -> str | None:
    """Where in ``doc`` the first NaN or infinity is (``hits[1].score``), if anywhere."""
    if isinstance(doc, float) and not math.isfinite(doc):
        return where or "the value"
    items: Any = (doc.items() if isinstance(doc, dict)
                  else enumerate(doc) if isinstance(doc, list | tuple) else ())
    for key, value in items:
        found = _nonfinite(value, f"{where}[{key}]" if isinstance(key, int)
                           else f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def _emit(doc: Any, as_json: bool, text: str) -> None:
    if as_json:
        try:
            body = json.dumps(doc, indent=2, allow_nan=False)
        except ValueError as e:  # JSON has no NaN/Infinity: refuse rather than print non-JSON
            where = _nonfinite(doc)
            raise MediaMLError(f"cannot print the result as JSON: {where} is not a finite number"
                               if where else f"cannot print the result as JSON: {e}") from e
        sys.stdout.write(body + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


@contextlib.contextmanager
def _executor(args: argparse.Namespace, duration_s: float = 0.0) -> Iterator[Any]:
    """In-process for short videos and for ``--workers 0``; Dask when workers or a scheduler
    are asked for, or by default for videos over ten minutes."""
    from media_ml.pipeline import InlineExecutor
    from media_ml.workers.cluster import dask_client

    workers = getattr(args, "workers", None)
    scheduler = getattr(args, "scheduler", None)
    if workers == 0:
        yield InlineExecutor()
    elif scheduler or workers is not None or duration_s > 600:
        with dask_client(scheduler, workers) as client:
            yield client
    else:
        yield InlineExecutor()


def cmd_shots(args: argparse.Namespace) -> int:
    from media_ml.extractors.video import probe
    from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots
    from media_ml.workers.cluster import decoder_threads

    info = probe(args.video)
    with _executor(args, info.duration_s) as ex:
        threads = args.threads
        if not threads and not isinstance(ex, InlineExecutor):
            threads = decoder_threads(ex)  # all worker threads together use the cores once
        settings = IngestSettings(segment_s=args.segment_s, decoder_threads=threads,
                                  **_detector_settings(args))
        shots, _, damage = analyse_shots(info, ex, settings)
    doc = {"video": info.as_json(), "shots": [s.as_json() for s in shots]}
    if damage:
        doc["damage"] = damage
    lines = [f"{info.path}: {info.frames} frames, {info.duration_s:.2f}s, {len(shots)} shots"]
    lines += [f"  #{s.index:<4} {s.start_s:9.3f}s  frames {s.start_frame:>7}-{s.end_frame:<7} "
              f"{s.transition_in or ''}" for s in shots]
    _emit(doc, args.json, "\n".join(lines))
    return 0


def _detector_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``IngestSettings`` keywords for ``--detector`` and its ``--detector-option`` values."""
    from media_ml.detectors import configure

    shot, learned = configure(args.detector_option or [])
    return {"detectors": args.detector, "detector": shot, "learned": learned}


def cmd_ingest(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.pipeline import IngestSettings

    settings = IngestSettings(segment_s=args.segment_s, **_detector_settings(args))
    with Library(args.library, wait=args.wait) as lib:
        report = lib.ingest(args.paths, model=args.model, model_config=args.model_config,
                            scheduler=args.scheduler, workers=args.workers, settings=settings,
                            progress=not args.no_progress)
    lines = [f"ingested {e['path']}: {e['shots']} shots, {e['keyframes']} keyframes"
             + (f" (damaged: {'; '.join(e['damage'])})" if e.get("damage") else "")
             for e in report.ingested]
    lines += [f"skipped  {e['path']}: unchanged" for e in report.skipped]
    lines += [f"FAILED   {e['error']}" for e in report.failed]
    lines.append(f"{len(report.ingested)} ingested, {len(report.skipped)} skipped, "
                 f"{len(report.failed)} failed")
    _emit(report.as_json(), args.json, "\n".join(lines))
    return 1 if report.failed else 0


def cmd_videos(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, readonly=True) as lib:
        rows = lib.videos()
    lines = [f"{'id':>4}  {'duration':>9}  {'shots':>5}  {'keyfr':>5}  path"]
    lines += [f"{r.id:>4}  {r.duration_s:8.2f}s  {r.shots:>5}  {r.keyframes:>5}  {r.path}"
              for r in rows]
    _emit({"videos": [r.as_json() for r in rows]}, args.json, "\n".join(lines))
    return 0


def cmd_frames(args: argparse.Namespace) -> int:
    from media_ml.extractors.video import probe
    from media_ml.frames import export_frames

    size = args.size  # parsed and bounded by the parser (_frame_size)
    at = args.at
    info = probe(args.video)
    with _executor(args, info.duration_s) as ex:
        written = export_frames(args.video, args.out, fps=args.fps, at=at,
                                every_shot=args.every_shot, size=size, executor=ex)
    _emit({"video": info.path, "frames": [str(p) for p in written]}, args.json,
          f"wrote {len(written)} frames to {args.out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, readonly=True) as lib:
        hits = lib.search(text=args.text, image=args.image, keyframe=args.keyframe, k=args.k,
                          video=args.video)
        model = (lib.catalog.model() or ("", ""))[0]
    lines = [f"model {model}"]
    lines += [f"{h.score:7.4f}  video {h.video_id:<4} shot {h.shot_index:<4} {h.time_s:9.2f}s  "
              f"keyframe {h.keyframe_id:<6} {h.thumbnail}" for h in hits]
    _emit({"model": model, "hits": [h.as_json() for h in hits]}, args.json, "\n".join(lines))
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, readonly=True) as lib:
        groups = lib.duplicates(threshold=args.threshold)
    lines = [f"{len(groups)} groups of near-duplicate shots (cosine >= {args.threshold})"]
    for g in groups:
        lines.append("  " + ", ".join(f"video {s['video_id']} shot {s['shot_index']} "
                                      f"({s['time_s']:.2f}s)" for s in g["shots"]))
    _emit({"threshold": args.threshold, "groups": groups}, args.json, "\n".join(lines))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    budget = int(args.memory_mb * 2**20) if args.memory_mb else None
    with Library(args.library, create=False, wait=args.wait) as lib:
        index = lib.reindex(budget)
    doc = {"vectors": len(index), "factory": index.factory, "manifest": index.manifest}
    _emit(doc, args.json, f"index rebuilt: {len(index)} vectors, {index.factory}")
    return 0


def cmd_reembed(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False, wait=args.wait) as lib:
        n = lib.reembed(args.model, config=args.model_config, scheduler=args.scheduler,
                        workers=args.workers, progress=not args.no_progress)
    _emit({"model": args.model, "vectors": n}, args.json, f"re-embedded {n} keyframes")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.ranking.contexts import get_context
    from media_ml.ranking.sheet import write_suggestions

    get_context(args.context, args.contexts)  # a bad --contexts file fails before any work
    with Library(args.library, create=False) as lib:
        sugg = lib.suggest(args.video, args.context, k=args.k, contexts_file=args.contexts)
        cands = sugg.candidates
        sheet = None
        if args.out:
            cands, sheet, _png = write_suggestions(lib, sugg, args.out)
    doc = {**sugg.as_json(), "candidates": [c.as_json() for c in cands]}
    lines = [f"{len(cands)} candidates for video {sugg.video_id} in {sugg.context.name}"]
    lines += [f"#{c.rank:<3} {c.score:.3f}  candidate {c.candidate_id:<6} shot {c.shot_index:<4} "
              f"{c.time_s:8.2f}s  crop {c.crop['w']}x{c.crop['h']}+{c.crop['x']}+{c.crop['y']}"
              f"  {'; '.join(c.reasons[:2])}" for c in cands]
    if sugg.filtered:
        lines.append("left out: " + ", ".join(f"{n} {r}" for r, n in sugg.filtered.items()))
    if sheet:
        lines.append(f"contact sheet: {sheet}")
    _emit(doc, args.json, "\n".join(lines))
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False) as lib:
        rec = lib.feedback(args.candidate, "accept" if args.accept else "reject", args.note)
    _emit(rec.as_json(), args.json, f"{rec.verdict}ed candidate {rec.candidate_id} "
                                    f"({rec.context}, rank {rec.rank})")
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False, wait=args.wait) as lib:
        done = lib.repair(progress=not args.no_progress)
    text = (f"{done['thumbnails_restored']} thumbnails restored, {done['folders_removed']} "
            f"unused folders removed"
            + (f", index: {done['index']['vectors']} vectors" if done["index"] else ""))
    text += "".join(f"\nNOT REPAIRED {p}" for p in done["problems"])
    _emit(done, args.json, text)
    return 1 if done["problems"] else 0


# -- argument types: each refuses a bad value in the parser, naming flag, value and limit ------


def _int(name: str, low: int, high: int) -> Callable[[str], int]:
    return arg_type(bounded_int, name, low=low, high=high)


def _float(name: str, low: float, high: float, **open_ends: bool) -> Callable[[str], float]:
    return arg_type(bounded_float, name, low=low, high=high, **open_ends)


def _path(name: str) -> Callable[[str], str]:
    return arg_type(path_text, name)


def _text(name: str, max_chars: int, allow_empty: bool = False) -> Callable[[str], str]:
    return arg_type(bounded_text, name, max_chars=max_chars, allow_empty=allow_empty)


def _out_dir(text: str, name: str) -> str:
    """A folder to write into: it may not exist yet, but it may not be a file."""
    p = Path(path_text(text, name))
    try:
        if p.exists() and not p.is_dir():
            raise UsageError(f"{name} {text}: exists and is not a folder")
    except OSError as e:
        raise UsageError(f"{name} {text}: cannot use it: {e.strerror or e}") from e
    return text


def _video_ref(text: str, name: str) -> int | str:
    """A video id (digits, within SQLite's range) or a video path."""
    if text.strip().isdigit():
        return record_id(text, name)
    return path_text(text, name)


def _times(text: str, name: str) -> list[float]:
    """Comma-separated seconds, each finite and in [0, MAX_TIME_S], at most MAX_TIMES."""
    parts = [t for t in bounded_text(text, name, max_chars=MAX_TIMES * 32).split(",")
             if t.strip()]
    if not parts:
        raise UsageError(f"{name} must be comma-separated seconds, got {show(text)}")
    if len(parts) > MAX_TIMES:
        raise UsageError(f"{name} must list at most {MAX_TIMES} times, got {len(parts)}")
    return [bounded_float(t.strip(), f"{name} time", low=0, high=MAX_TIME_S) for t in parts]


def _frame_size(text: str, name: str) -> tuple[int, int]:
    """``WxH`` as ``frames.parse_size`` reads it, with sides of at most MAX_SIDE pixels."""
    from media_ml.frames import parse_size  # numpy and OpenCV: only when --size is given

    w, h = parse_size(bounded_text(text, name, max_chars=40))
    if w > MAX_SIDE or h > MAX_SIDE:
        raise UsageError(f"{name} sides must be at most {MAX_SIDE} pixels, got {show(text)}")
    return w, h


def _contexts_file(text: str, name: str) -> Path:
    from media_ml.ranking.contexts import MAX_FILE_BYTES

    return regular_file(text, name, max_bytes=MAX_FILE_BYTES)


def _member_json(text: str, name: str) -> dict[str, Any]:
    """``--member``: a JSON object of member context fields (checked again field by field)."""
    from media_ml.personalize.features import validate_member

    if len(text) > 65536:
        raise UsageError(f"{name} is longer than 64 KiB")

    def no_constant(c: str) -> Any:
        raise UsageError(f"{name}: {c} is not a finite number")

    try:
        doc = json.loads(text, parse_constant=no_constant)
    except ValueError as e:
        raise UsageError(f"{name} must be a JSON object, e.g. '{{\"device\": \"tv\"}}': "
                         f"{e}") from e
    return validate_member(doc, "--member")


def _open_personalizing(args: argparse.Namespace) -> Any:
    from media_ml.library import Library

    return Library(args.library, create=False)


def cmd_choose(args: argparse.Namespace) -> int:
    with _open_personalizing(args) as lib:
        d = lib.choose(args.video, args.context, args.member, args.contexts)
    _emit(d.as_json(), args.json,
          f"decision {d.decision_id}: candidate {d.candidate_id} (p = {d.propensity:.3f}, "
          f"{d.policy} v{d.policy_version}{', explored' if d.explored else ''}"
          f"{'; ' + d.reason if d.reason else ''})")
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    with _open_personalizing(args) as lib:
        rec = lib.reward(args.decision, args.value)
    _emit(rec.as_json(), args.json,
          f"decision {rec.decision_id}: reward {args.value:g} recorded "
          f"({rec.reward_count} so far; {rec.reward_status})")
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False) as lib:
        p = lib.personalizer
        if args.parquet:
            n = p.log.export_parquet(args.parquet, p.config.default_reward)
            _emit({"parquet": str(args.parquet), "rows": n}, args.json,
                  f"{n} decisions written to {args.parquet}")
            return 0
        records = list(itertools.islice(p.decisions(after=args.after), args.limit))
        stats = p.log.stats()
    lines = [f"{stats['decisions']} decisions, {stats['rewards']} rewards, "
             f"{stats['explored']} explored, {stats['fallback']} editorial fallback, "
             f"{stats['learned']} learned"]
    lines += [f"{r.decision_id:>8}  video {r.video_id} {r.context:<14} candidate "
              f"{r.candidate_id:<6} p={r.propensity:.3f} {r.policy} v{r.policy_version} "
              f"reward={'-' if r.reward is None else f'{r.reward:g}'} ({r.reward_status})"
              for r in records]
    _emit({"decisions": [r.as_json() for r in records], "stats": stats}, args.json,
          "\n".join(lines))
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    with _open_personalizing(args) as lib:
        rep = lib.learn(restart=args.restart, wait=args.wait)
    text = (f"policy {rep.policy} v{rep.version}: learned {rep.learned} decisions "
            f"({rep.total} in all"
            f"{f', warm start from {rep.warm_start} verdicts' if rep.warm_start else ''}); "
            f"{rep.pending} waiting for a final reward; snapshot {rep.snapshot}"
            if rep.version is not None else
            f"nothing new to learn ({rep.pending} decisions waiting for a final reward)")
    _emit(rep.as_json(), args.json, text)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.personalize.offline import evaluate_policy

    with Library(args.library, create=False) as lib:
        plot = args.plot or str(Path(args.library) / "personalize" / "evaluation.png")
        rep = evaluate_policy(lib.personalizer, args.policy, estimator=args.estimator,
                              n_bootstrap=args.n_bootstrap, random_state=args.seed, plot=plot)
    lines = [f"{args.policy} vs the logging policy on {rep.n} logged decisions "
             f"(logging policy's value {rep.logging_value:.4f}):"]
    lines += [f"  {name:<6} {e.value:.4f}  (95 % CI {e.low:.4f}–{e.high:.4f})"
              for name, e in rep.estimates.items()]
    lines.append(f"  {rep.comparison.candidate.name}: {rep.comparison.summary()}")
    if rep.unsupported > 0.01:
        lines.append(f"warning: {rep.unsupported:.0%} of the policy's choices had probability 0 "
                     "under the logging policy; IPS, SNIPS and DR cannot see them (they "
                     "underestimate). Log with min_propensity > 0 to evaluate such policies.")
    lines.append(f"plot: {rep.plot}")
    _emit(rep.as_json(), args.json, "\n".join(lines))
    return 0


def cmd_personalize(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.personalize.config import load_config, save_config

    with Library(args.library, create=False) as lib:
        config = load_config(lib.root)
        if args.set:
            values = {}
            for item in args.set:
                key, eq, value = item.partition("=")
                if not eq:
                    raise UsageError(f"--set takes key=value, got {item!r}")
                values[key.strip()] = value.strip()
            config = config.with_values(values)
            save_config(lib.root, config)
        state = lib.personalizer.policy_state()
    doc = {**state, "settings": config.as_json()}
    _emit(doc, args.json, "\n".join([f"serving {state['policy']} v{state['version']}"
                                     + (f" (problem: {state['problem']})"
                                        if state["problem"] else "")]
                                    + [f"  {k} = {v}" for k, v in config.as_json().items()]))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from media_ml.service import ServiceConfig, serve
    except ImportError as e:
        raise UsageError(f"the service needs its extra: pip install 'media-ml[serve]' ({e})"
                         ) from e

    if not (Path(args.library) / "catalog.sqlite").exists():
        raise UsageError(f"{args.library}: not a media-ml library (no catalog.sqlite); ingest "
                         "into it first")
    config = ServiceConfig(library=Path(args.library), host=args.host, port=args.port,
                           token=args.token or os.environ.get("MEDIA_ML_TOKEN") or None,
                           cors_origins=tuple(args.cors_origin or ()),
                           scheduler=args.scheduler, contexts_file=args.contexts,
                           max_upload_bytes=int(args.max_upload_mb * 2**20))
    def announce(where: dict[str, str]) -> None:
        print(f"media-ml serving {config.library} at {where['url']}\n"
              f"editor page: {where['page']}\n"
              f"API docs: {where['docs']}   metrics: {where['metrics']}", flush=True)
        if "random_token" in where:
            print("(a random token was made for this run; set MEDIA_ML_TOKEN or --token to fix "
                  "one)", flush=True)

    serve(config, log_level="info" if args.verbose + args.sub_verbose else "warning",
          on_start=announce)
    return 0


class _ArgumentError(Exception):
    """argparse refused an argument (exit 2); carries its message for ``--json``."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _ArgumentError(f"{self.prog.removeprefix('media-ml ')}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="media-ml", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more logging (-vv: debug, with tracebacks)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="what to do (media-ml COMMAND --help for its options)")
    library_help = "the library folder"

    def model_args(sp: argparse.ArgumentParser, required: bool = False) -> None:
        sp.add_argument("--model", required=required, type=_text("--model", MAX_SPEC_CHARS),
                        help="embedding model: NAME:PRETRAINED, NAME:/path/ckpt, a checkpoint "
                             "file, 'untrained' (random weights) or 'none' (default: the "
                             "library's model, else ViT-B-32:laion2b_s34b_b79k)")
        sp.add_argument("--model-config", type=_path("--model-config"),
                        help="folder of extra open_clip model-config JSONs")

    def common(sp: argparse.ArgumentParser, cluster: bool = True) -> None:
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        # Also after the command (`media-ml videos … -v`); added to the top-level count.
        sp.add_argument("-v", "--verbose", action="count", default=0, dest="sub_verbose",
                        help="more logging (-vv: debug, with tracebacks)")
        if cluster:
            sp.add_argument("--scheduler", type=_text("--scheduler", MAX_SPEC_CHARS),
                            help="Dask scheduler address (tcp://host:8786)")
            sp.add_argument("--workers", type=_int("--workers", 0, MAX_WORKERS), default=None,
                            help=f"local Dask workers, 0 to {MAX_WORKERS} (0 = in this "
                                 "process)")

    def library(sp: argparse.ArgumentParser, writer: bool = False) -> None:
        sp.add_argument("--library", required=True, type=_path("--library"), help=library_help)
        if writer:
            sp.add_argument("--wait", nargs="?", const=None, default=0.0,
                            type=_float("--wait", 0, 7 * 86400),
                            help="when another process is writing the library, wait for it "
                                 "(optionally at most this many seconds) instead of failing")

    def top_k(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("-k", type=_int("-k", 1, MAX_K), default=10,
                        help=f"number of {what}, 1 to {MAX_K} (default 10)")

    segment_help = "segment length in seconds, 1 to 3600 (default 60)"

    def detector(sp: argparse.ArgumentParser) -> None:
        from media_ml.detectors import DEFAULT_SET, DETECTOR_SETS

        sp.add_argument("--detector", choices=sorted(DETECTOR_SETS), default=DEFAULT_SET,
                        help=f"shot detector set (default {DEFAULT_SET}): fast = grids and "
                             "colour histograms (fades, cuts, and dissolves and wipes scored by "
                             "a small shipped tree model); learned = TransNetV2 on the workers; "
                             "ensemble = both; grids = the grid-only detector of earlier "
                             "releases")
        sp.add_argument("--detector-option", action="append", metavar="KEY=VALUE",
                        help="a detector setting (repeatable): a ShotDetectorConfig field, "
                             "e.g. gradual_score=0.8, or learned.FIELD of LearnedConfig, e.g. "
                             "learned.threshold=0.6; changed settings re-analyse on re-ingest")

    s = sub.add_parser("shots", help="detect the shots of a video")
    s.add_argument("video", type=_path("video"), help="the video file")
    s.add_argument("--segment-s", type=_float("--segment-s", 1, 3600), default=60.0,
                   help=segment_help)
    detector(s)
    s.add_argument("--threads", type=_int("--threads", 0, MAX_THREADS), default=0,
                   help=f"decoder threads, 0 to {MAX_THREADS} (0 = all cores)")
    common(s)
    s.set_defaults(func=cmd_shots)

    s = sub.add_parser("ingest", help="ingest videos (files or folders) into a library")
    s.add_argument("paths", nargs="+", type=_path("paths"), help="video files or folders")
    library(s, writer=True)
    s.add_argument("--segment-s", type=_float("--segment-s", 1, 3600), default=60.0,
                   help=segment_help)
    detector(s)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    model_args(s)
    common(s)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("search", help="find keyframes like a text, an image or a keyframe")
    library(s)
    q = s.add_mutually_exclusive_group(required=True)
    q.add_argument("--text", type=_text("--text", MAX_QUERY_CHARS),
                   help=f"a text query (at most {MAX_QUERY_CHARS} characters)")
    q.add_argument("--image", type=arg_type(image_file, "--image"),
                   help="an image file (at most 50 MB and 50 megapixels)")
    q.add_argument("--keyframe", type=arg_type(record_id, "--keyframe"),
                   help="a keyframe id (more like this)")
    top_k(s, "hits")
    s.add_argument("--video", type=arg_type(record_id, "--video"), help="only this video id")
    common(s, cluster=False)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("duplicates", help="group near-duplicate shots across the library")
    library(s)
    s.add_argument("--threshold", type=_float("--threshold", 0, 1, low_open=True), default=0.95,
                   help="cosine similarity in (0, 1] (default 0.95)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_duplicates)

    s = sub.add_parser("suggest", help="ranked artwork candidates of a video for a context")
    library(s)
    s.add_argument("--video", required=True, type=arg_type(_video_ref, "--video"),
                   help="video id (or path)")
    s.add_argument("--context", required=True, type=arg_type(safe_name, "--context"),
                   help="context name (built-in or from --contexts)")
    s.add_argument("--contexts", type=arg_type(_contexts_file, "--contexts"),
                   help="TOML file with more contexts (at most 1 MB)")
    top_k(s, "candidates")
    s.add_argument("--out", type=arg_type(_out_dir, "--out"),
                   help="write crops and a contact sheet (HTML + PNG) into this folder")
    common(s, cluster=False)
    s.set_defaults(func=cmd_suggest)

    s = sub.add_parser("feedback", help="accept or reject a suggested candidate")
    library(s)
    s.add_argument("--candidate", type=arg_type(record_id, "--candidate"), required=True,
                   help="the candidate id (from suggest)")
    v = s.add_mutually_exclusive_group(required=True)
    v.add_argument("--accept", action="store_true", help="the candidate is good")
    v.add_argument("--reject", action="store_true", help="the candidate is bad (not proposed "
                                                         "again in this context)")
    s.add_argument("--note", type=_text("--note", MAX_NOTE_CHARS, allow_empty=True),
                   help=f"why (at most {MAX_NOTE_CHARS} characters)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("choose", help="choose a title's artwork for a member (logged, with its "
                                      "propensity)")
    library(s)
    s.add_argument("--video", required=True, type=arg_type(_video_ref, "--video"),
                   help="video id (or path)")
    s.add_argument("--context", required=True, type=arg_type(safe_name, "--context"),
                   help="context name")
    s.add_argument("--member", type=arg_type(_member_json, "--member"), default={},
                   help='member context as JSON, e.g. \'{"device": "tv", "hour": 21}\'')
    s.add_argument("--contexts", type=arg_type(_contexts_file, "--contexts"),
                   help="TOML file with more contexts (at most 1 MB)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_choose)

    s = sub.add_parser("reward", help="send the reward of a decision")
    library(s)
    s.add_argument("--decision", required=True, type=arg_type(record_id, "--decision"),
                   help="the decision id (from choose)")
    s.add_argument("--value", required=True, type=_float("--value", -1e6, 1e6),
                   help="the reward, a finite number (e.g. 1 for a quality play)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_reward)

    s = sub.add_parser("decisions", help="list the decision log, or export it to Parquet")
    library(s)
    s.add_argument("--after", type=_int("--after", 0, 2**63 - 1), default=0,
                   help="only decisions with a larger id")
    s.add_argument("--limit", type=_int("--limit", 1, 10_000_000), default=1000,
                   help="at most this many (default 1000)")
    s.add_argument("--parquet", type=_path("--parquet"),
                   help="write every decision to this Parquet file instead")
    common(s, cluster=False)
    s.set_defaults(func=cmd_decisions)

    s = sub.add_parser("learn", help="fold rewarded decisions into the policy (next snapshot)")
    library(s)
    s.add_argument("--restart", action="store_true",
                   help="start a new policy and learn the whole log again")
    s.add_argument("--wait", type=_float("--wait", 0, 7 * 86400), default=60.0,
                   help="wait at most this many seconds for another learner (default 60)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_learn)

    s = sub.add_parser("evaluate", help="estimate a policy's value on the decision log "
                                        "(offline, before an A/B test)")
    library(s)
    s.add_argument("--policy", required=True, type=_text("--policy", 256),
                   help="editorial, uniform, current, or a policy with settings "
                        "(vw-squarecb, vw-epsilon:epsilon=0.2, thompson…)")
    s.add_argument("--estimator", choices=("replay", "ips", "snips", "dm", "dr", "sndr"),
                   default="snips", help="estimator of the lift line (default snips)")
    s.add_argument("--n-bootstrap", type=_int("--n-bootstrap", 100, 100_000), default=1000,
                   help="bootstrap resamples (default 1000)")
    s.add_argument("--seed", type=_int("--seed", 0, 2**32 - 1), default=0, help="random seed")
    s.add_argument("--plot", type=_path("--plot"),
                   help="PNG of the estimates (default DIR/personalize/evaluation.png)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("personalize", help="show or change the personalization settings")
    library(s)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", type=_text("--set", 256),
                   help="change a setting (policy, epsilon, min_propensity, max_explore_share, "
                        "kill_switch, reward_wait_s, default_reward, aggregation, max_arms…)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_personalize)

    s = sub.add_parser("serve", help="serve a library over HTTP, with the editor's page at /")
    library(s)
    s.add_argument("--host", type=_text("--host", 253), default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; any other "
                        "address needs a token)")
    s.add_argument("--port", type=_int("--port", 0, 65535), default=8000, help="default 8000")
    s.add_argument("--token", type=_text("--token", 256),
                   help="bearer token for writes (and for everything off 127.0.0.1); default "
                        "$MEDIA_ML_TOKEN, else a random one printed at start")
    s.add_argument("--cors-origin", action="append", type=_text("--cors-origin", 300),
                   help="allow this origin (http://host:port) to call the API; repeatable")
    s.add_argument("--scheduler", type=_text("--scheduler", MAX_SPEC_CHARS),
                   help="Dask scheduler for query embedding (GPU workers when it has them)")
    s.add_argument("--contexts", type=arg_type(_contexts_file, "--contexts"),
                   help="TOML file with more contexts")
    s.add_argument("--max-upload-mb", type=_float("--max-upload-mb", 0.01, 200), default=10.0,
                   help="largest image upload in MB (default 10)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("reindex", help="rebuild the vector index from the stored vectors")
    library(s, writer=True)
    s.add_argument("--memory-mb", type=_float("--memory-mb", 0, MAX_MEMORY_MB, low_open=True),
                   help="memory budget of the index in MB (default: no limit)")
    common(s, cluster=False)
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("reembed", help="re-embed every keyframe with another model")
    library(s, writer=True)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    model_args(s, required=True)
    common(s)
    s.set_defaults(func=cmd_reembed)

    s = sub.add_parser("repair", help="restore missing thumbnails, drop unused folders, bring "
                                      "the index up to date")
    library(s, writer=True)
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(s, cluster=False)
    s.set_defaults(func=cmd_repair)

    s = sub.add_parser("videos", help="list the videos a library holds")
    library(s)
    common(s, cluster=False)
    s.set_defaults(func=cmd_videos)

    s = sub.add_parser("frames", help="export frames of a video as JPEG files")
    s.add_argument("video", type=_path("video"), help="the video file")
    s.add_argument("--out", required=True, type=arg_type(_out_dir, "--out"),
                   help="folder to write the JPEG files into")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--fps", type=_float("--fps", 0, MAX_FPS, low_open=True),
                   help=f"frames per second to export, in (0, {MAX_FPS:g}]")
    g.add_argument("--every-shot", action="store_true", help="one frame per shot")
    g.add_argument("--at", type=arg_type(_times, "--at"),
                   help=f"comma-separated times in seconds (at most {MAX_TIMES})")
    s.add_argument("--size", type=arg_type(_frame_size, "--size"),
                   help=f"output size WxH, sides at most {MAX_SIDE} (one side -1 keeps the "
                        "aspect ratio)")
    common(s)
    s.set_defaults(func=cmd_frames)
    return p


def _check_combinations(args: argparse.Namespace) -> None:
    """Checks that involve two arguments (one argument alone is checked by its type)."""
    if getattr(args, "workers", None) == 0 and getattr(args, "scheduler", None):
        raise UsageError("--workers 0 runs in this process; it cannot go with --scheduler "
                         f"{show(args.scheduler)}")


def _system_error(e: sqlite3.Error | OSError, library: str | None) -> tuple[str, int]:
    """A one-line message for a database or operating-system failure, and its exit code:
    2 when it is a permission problem on --library (the user can fix the argument), else 1."""
    where = f"library {library}" if library else "database"
    if isinstance(e, sqlite3.Error):
        text = str(e)
        denied = any(w in text for w in ("readonly", "unable to open", "permission"))
        hint = " (check the permissions of --library)" if denied and library else ""
        return f"{where}: database failed: {text}{hint}", 2 if denied and library else 1
    name = e.filename
    reason = e.strerror or str(e) or type(e).__name__
    if name is None:
        return f"{type(e).__name__}: {reason}", 1
    on_library = library is not None and _is_within(str(name), library)
    if isinstance(e, PermissionError) and on_library:
        return f"{name}: {reason} (check the permissions of --library {library})", 2
    return f"{name}: {reason}", 1


def _is_within(path: str, folder: str) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError, RuntimeError):
        return False


def _fail(message: str, code: int, as_json: bool, prefix: str = "error") -> int:
    """One line on stderr; with ``--json`` also one JSON document on stdout, so a script
    reading stdout always gets JSON."""
    print(f"media-ml: {prefix}: {message}", file=sys.stderr)
    if as_json:
        with contextlib.suppress(OSError):
            sys.stdout.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    library: str | None = None
    as_json = False
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as e:  # --help, --version
            return e.code if isinstance(e.code, int) else 2
        except _ArgumentError as e:  # argparse printed the usage; the reason, as JSON if asked
            words = sys.argv[1:] if argv is None else list(argv)
            return _fail(str(e), 2, "--json" in words)
        as_json = bool(getattr(args, "json", False))
        verbose = args.verbose + args.sub_verbose
        level = logging.WARNING - 10 * min(verbose, 2)
        logging.basicConfig(level=level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for noisy in ("distributed", "tornado", "bokeh"):
            logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.INFO)
        library = getattr(args, "library", None)
        _check_combinations(args)
        return int(args.func(args))
    except (UsageError, IndexCorruptError, ModelLoadError) as e:
        return _fail(str(e), 2, as_json)
    except MediaMLError as e:
        return _fail(str(e), 1, as_json)
    except KeyboardInterrupt:
        # Stopping already: another Ctrl-C while the interpreter shuts down (threads joining,
        # files closing) must not turn exit 130 into death by SIGINT.
        if argv is None:  # the command itself, not a caller's main([...])
            with contextlib.suppress(ValueError):  # ValueError: not the main thread
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("media-ml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `media-ml … | head`: the reader left; nothing more to say
        with contextlib.suppress(Exception):  # and no error when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (sqlite3.Error, OSError) as e:
        log.debug("system error", exc_info=True)
        message, code = _system_error(e, library)
        return _fail(message, code, as_json)
    except Exception as e:  # the safety net: a bug must not show the user a traceback
        log.debug("internal error", exc_info=True)
        return _fail(f"{type(e).__name__}: {e} (run with -vv for the traceback)", 1, as_json,
                     "internal error")


if __name__ == "__main__":
    sys.exit(main())
