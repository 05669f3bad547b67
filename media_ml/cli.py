"""``media-ml …`` subcommands: thin, they parse, call the library and print.

Every command takes ``--json`` to print one JSON document on stdout; logs and progress go to
stderr. Exit codes: 0 success, 1 some input failed (others done), 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from media_ml.errors import IndexCorruptError, MediaMLError, ModelLoadError, UsageError

log = logging.getLogger("media_ml")


def _emit(doc: Any, as_json: bool, text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


@contextlib.contextmanager
def _executor(args: argparse.Namespace, duration_s: float = 0.0) -> Iterator[Any]:
    """In-process for short videos unless workers or a scheduler are asked for."""
    from media_ml.pipeline import InlineExecutor
    from media_ml.workers.cluster import dask_client

    workers = getattr(args, "workers", None)
    scheduler = getattr(args, "scheduler", None)
    if scheduler or (workers is not None and workers > 0) or (workers is None
                                                               and duration_s > 600):
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
        settings = IngestSettings(segment_s=args.segment_s, decoder_threads=threads)
        shots, _, damage = analyse_shots(info, ex, settings)
    doc = {"video": info.as_json(), "shots": [s.as_json() for s in shots]}
    if damage:
        doc["damage"] = damage
    lines = [f"{info.path}: {info.frames} frames, {info.duration_s:.2f}s, {len(shots)} shots"]
    lines += [f"  #{s.index:<4} {s.start_s:9.3f}s  frames {s.start_frame:>7}-{s.end_frame:<7} "
              f"{s.transition_in or ''}" for s in shots]
    _emit(doc, args.json, "\n".join(lines))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.pipeline import IngestSettings

    settings = IngestSettings(segment_s=args.segment_s)
    with Library(args.library) as lib:
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

    with Library(args.library, create=False) as lib:
        rows = lib.videos()
    lines = [f"{'id':>4}  {'duration':>9}  {'shots':>5}  {'keyfr':>5}  path"]
    lines += [f"{r.id:>4}  {r.duration_s:8.2f}s  {r.shots:>5}  {r.keyframes:>5}  {r.path}"
              for r in rows]
    _emit({"videos": [r.as_json() for r in rows]}, args.json, "\n".join(lines))
    return 0


def cmd_frames(args: argparse.Namespace) -> int:
    from media_ml.extractors.video import probe
    from media_ml.frames import export_frames, parse_size

    size = parse_size(args.size) if args.size else None
    at = None
    if args.at is not None:
        try:
            at = [float(t) for t in args.at.split(",") if t.strip()]
        except ValueError as e:
            raise UsageError(f"--at must be comma-separated seconds, got {args.at!r}") from e
    info = probe(args.video)
    with _executor(args, info.duration_s) as ex:
        written = export_frames(args.video, args.out, fps=args.fps, at=at,
                                every_shot=args.every_shot, size=size, executor=ex)
    _emit({"video": info.path, "frames": [str(p) for p in written]}, args.json,
          f"wrote {len(written)} frames to {args.out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False) as lib:
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

    with Library(args.library, create=False) as lib:
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
    with Library(args.library, create=False) as lib:
        index = lib.reindex(budget)
    doc = {"vectors": len(index), "factory": index.factory, "manifest": index.manifest}
    _emit(doc, args.json, f"index rebuilt: {len(index)} vectors, {index.factory}")
    return 0


def cmd_reembed(args: argparse.Namespace) -> int:
    from media_ml.library import Library

    with Library(args.library, create=False) as lib:
        n = lib.reembed(args.model, config=args.model_config, scheduler=args.scheduler,
                        workers=args.workers, progress=not args.no_progress)
    _emit({"model": args.model, "vectors": n}, args.json, f"re-embedded {n} keyframes")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from media_ml.library import Library
    from media_ml.ranking.sheet import write_suggestions

    with Library(args.library, create=False) as lib:
        sugg = lib.suggestions(args.video, args.context, k=args.k, contexts_file=args.contexts)
        cands = sugg.candidates
        sheet = None
        if args.out:
            cands, sheet, _png = write_suggestions(lib.catalog, sugg, args.out)
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
    _emit(rec, args.json, f"{rec['verdict']}ed candidate {rec['candidate_id']} "
                          f"({rec['context']}, rank {rec['rank']})")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="media-ml", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp: argparse.ArgumentParser, required: bool = False) -> None:
        sp.add_argument("--model", required=required,
                        help="embedding model: NAME:PRETRAINED, NAME:/path/ckpt, a checkpoint "
                             "file, 'untrained' (random weights) or 'none' (default: the "
                             "library's model, else ViT-B-32:laion2b_s34b_b79k)")
        sp.add_argument("--model-config", help="folder of extra open_clip model-config JSONs")

    def common(sp: argparse.ArgumentParser, cluster: bool = True) -> None:
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        if cluster:
            sp.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786)")
            sp.add_argument("--workers", type=int, default=None,
                            help="local Dask workers (0 = in this process)")

    s = sub.add_parser("shots", help="detect the shots of a video")
    s.add_argument("video")
    s.add_argument("--segment-s", type=float, default=60.0, help="segment length in seconds")
    s.add_argument("--threads", type=int, default=0, help="decoder threads (0 = all cores)")
    common(s)
    s.set_defaults(func=cmd_shots)

    s = sub.add_parser("ingest", help="ingest videos (files or folders) into a library")
    s.add_argument("paths", nargs="+")
    s.add_argument("--library", required=True)
    s.add_argument("--segment-s", type=float, default=60.0)
    s.add_argument("--no-progress", action="store_true")
    model_args(s)
    common(s)
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("search", help="find keyframes like a text, an image or a keyframe")
    s.add_argument("--library", required=True)
    q = s.add_mutually_exclusive_group(required=True)
    q.add_argument("--text")
    q.add_argument("--image", help="an image file")
    q.add_argument("--keyframe", type=int, help="a keyframe id (more like this)")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--video", type=int, help="only this video id")
    common(s, cluster=False)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("duplicates", help="group near-duplicate shots across the library")
    s.add_argument("--library", required=True)
    s.add_argument("--threshold", type=float, default=0.95, help="cosine similarity")
    common(s, cluster=False)
    s.set_defaults(func=cmd_duplicates)

    s = sub.add_parser("suggest", help="ranked artwork candidates of a video for a context")
    s.add_argument("--library", required=True)
    s.add_argument("--video", required=True, help="video id (or path)")
    s.add_argument("--context", required=True, help="context name (built-in or from --contexts)")
    s.add_argument("--contexts", help="TOML file with more contexts")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--out", help="write crops and a contact sheet (HTML + PNG) here")
    common(s, cluster=False)
    s.set_defaults(func=cmd_suggest)

    s = sub.add_parser("feedback", help="accept or reject a suggested candidate")
    s.add_argument("--library", required=True)
    s.add_argument("--candidate", type=int, required=True)
    v = s.add_mutually_exclusive_group(required=True)
    v.add_argument("--accept", action="store_true")
    v.add_argument("--reject", action="store_true")
    s.add_argument("--note")
    common(s, cluster=False)
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("reindex", help="rebuild the vector index from the stored vectors")
    s.add_argument("--library", required=True)
    s.add_argument("--memory-mb", type=float, help="memory budget of the index")
    common(s, cluster=False)
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("reembed", help="re-embed every keyframe with another model")
    s.add_argument("--library", required=True)
    s.add_argument("--no-progress", action="store_true")
    model_args(s, required=True)
    common(s)
    s.set_defaults(func=cmd_reembed)

    s = sub.add_parser("videos", help="list the videos a library holds")
    s.add_argument("--library", required=True)
    common(s, cluster=False)
    s.set_defaults(func=cmd_videos)

    s = sub.add_parser("frames", help="export frames of a video as JPEG files")
    s.add_argument("video")
    s.add_argument("--out", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--fps", type=float, help="frames per second to export")
    g.add_argument("--every-shot", action="store_true", help="one frame per shot")
    g.add_argument("--at", help="comma-separated times in seconds")
    s.add_argument("--size", help="output size WxH (one side -1 keeps the aspect ratio)")
    common(s)
    s.set_defaults(func=cmd_frames)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("distributed", "tornado", "bokeh"):
        logging.getLogger(noisy).setLevel(logging.WARNING if args.verbose < 2 else logging.INFO)
    try:
        return int(args.func(args))
    except (UsageError, IndexCorruptError, ModelLoadError) as e:
        print(f"media-ml: error: {e}", file=sys.stderr)
        return 2
    except MediaMLError as e:
        print(f"media-ml: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("media-ml: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
