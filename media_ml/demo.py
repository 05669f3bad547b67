"""``make demo``: ingest the bundled sample media and show what the library holds.

Prints a table of videos, shots and best keyframes and writes an HTML contact sheet.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from media_ml.extractors.clip import ModelSpec
from media_ml.library import Library
from media_ml.ranking.sheet import write_suggestions
from media_ml.report import contact_sheet

ROOT = Path(__file__).resolve().parent.parent


def pick_model(requested: str | None) -> tuple[str, str | None]:
    """The model to embed with: the one asked for, else the default if its weights are cached
    here, else ``untrained`` with a loud warning (never a wait on an absent network)."""
    from media_ml.errors import ModelLoadError
    from media_ml.extractors.clip import DEFAULT_MODEL, ModelSpec, load_embedder

    if requested:
        return requested, None
    try:
        load_embedder(ModelSpec.parse(DEFAULT_MODEL))
        return DEFAULT_MODEL, None
    except ModelLoadError as e:
        warning = (f"WARNING: {DEFAULT_MODEL} weights are not in the local cache, so the demo "
                   f"embeds with RANDOM weights ('untrained'): search results below are "
                   f"meaningless. To use real weights run once with network access: "
                   f"MEDIA_ML_ALLOW_DOWNLOAD=1 make demo. ({e})")
        print("\n" + "!" * 100 + "\n" + warning + "\n" + "!" * 100 + "\n", file=sys.stderr)
        return "untrained", warning


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--media", default=str(ROOT / "sample_media" / "generated"))
    p.add_argument("--out", default=str(ROOT / "demo_output"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", default=os.environ.get("MEDIA_ML_MODEL"))
    args = p.parse_args(argv)
    if not os.environ.get("MEDIA_ML_ALLOW_DOWNLOAD"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # cache only: fail at once, not after retries
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    out = Path(args.out)
    model, warning = pick_model(args.model)
    with Library(out / "library") as lib:
        have = lib.catalog.model()
        if have is not None and have[0] != ModelSpec.parse(model).name:
            print(f"re-embedding the demo library with {model} (it held {have[0]})")
            lib.reembed(model, workers=args.workers)
        report = lib.ingest([args.media], model=model, workers=args.workers)
        for f in report.failed:
            print(f"FAILED {f['error']}")
        print(f"\n{len(report.ingested)} ingested, {len(report.skipped)} unchanged, "
              f"{len(report.failed)} failed\n")
        print(f"{'video':<18} {'dur':>7} {'shots':>5} {'kf':>4}  best keyframe (sharpness, faces)")
        for v in lib.videos():
            kfs = lib.keyframes(v.id)
            best = max(kfs, key=lambda k: (not k.signals.black, k.signals.sharpness),
                       default=None)
            desc = (f"{best.time_s:7.2f}s shot {best.shot_index:<3} "
                    f"({best.signals.sharpness:.0f}, {best.signals.faces})"
                    if best else "-")
            print(f"{Path(v.path).name:<18} {v.duration_s:6.1f}s {v.shots:>5} {v.keyframes:>4}  "
                  f"{desc}")
        searches = []
        text = "a woman in a space suit"
        hits = lib.search(text=text, k=6)
        searches.append((f"text search: \u201c{text}\u201d ({model})", hits))
        print(f"\nsearch \u201c{text}\u201d:")
        for h in hits:
            print(f"  {h.score:.3f}  video {h.video_id} shot {h.shot_index} at {h.time_s:.2f}s")
        if hits:
            seed = hits[0]
            like = lib.search(keyframe=seed.keyframe_id, k=6)
            searches.append((f"more like keyframe {seed.keyframe_id} (video {seed.video_id} "
                             f"shot {seed.shot_index}; first tile: the query itself, with its "
                             f"text score)", [seed, *like]))
            print(f"more like keyframe {seed.keyframe_id}: "
                  + ", ".join(f"v{h.video_id}/s{h.shot_index} {h.score:.3f}" for h in like))
        sheet = contact_sheet(lib, out / "contact_sheet.html", searches=searches, note=warning)
        print(f"\ncontact sheet: {sheet}")
        faces = next((v for v in lib.videos() if Path(v.path).name == "faces.mp4"), None)
        if faces is not None:
            for context in ("web-row", "mobile-boxart"):
                sugg = lib.suggest(faces.id, context, k=5)
                cands, html, png = write_suggestions(lib, sugg, out / "suggest" / context)
                print(f"\n{context}: {len(cands)} suggestions for {Path(faces.path).name}")
                for c in cands:
                    print(f"  #{c.rank} {c.score:.3f} shot {c.shot_index} at {c.time_s:.2f}s "
                          f"crop {c.crop['w']}x{c.crop['h']}  ({'; '.join(c.reasons[:2])})")
                print(f"  contact sheet: {html} (and {png.name})")
        personalization(lib, out)
    print(f"\neditor's page: run\n  .venv/bin/media-ml serve --library {out / 'library'}\n"
          "and open the URL it prints (http://127.0.0.1:8000/#token=…): search, browse, open "
          "a title, accept or reject its suggestions.")
    return 1 if report.failed else 0


def personalization(lib: Library, out: Path, rounds: int = 2000) -> None:
    """A short simulated loop on the demo library: members arrive, ``choose`` serves (logged
    with propensities), rewards come back 20 rounds late, ``learn`` runs every 500 rounds; then
    offline evaluation of two policies on the log, with a plot."""
    from media_ml.personalize.offline import evaluate_policy
    from media_ml.personalize.simulator import MemberSimulator, simulate

    videos = [v.id for v in lib.videos() if lib.suggest(v.id, "web-row", k=1)]
    if not videos:
        return
    p = lib.personalizer
    print(f"\npersonalization: {rounds} simulated members on {len(videos)} titles, policy "
          f"{p.config.policy} (choose → reward 20 rounds later → learn every 500)")
    rep = simulate(p, MemberSimulator(seed=0), videos, "web-row", rounds, learn_every=500,
                   delay=20)
    versions = ", ".join(f"v{v}" for v in rep.learned_versions)
    print(f"  mean reward {rep.mean_reward:.3f}, mean regret {rep.mean_regret:.3f} per decision, "
          f"{rep.explored:.0%} explored; snapshots {versions}")
    stats = p.log.stats()
    print(f"  decision log: {stats['decisions']} decisions, {stats['rewards']} rewards "
          f"({lib.root / 'decisions.sqlite'})")
    folder = out / "personalize"
    folder.mkdir(parents=True, exist_ok=True)
    for spec in ("editorial", "vw-softmax"):
        ev = evaluate_policy(p, spec, n_bootstrap=300, plot=folder / f"evaluate-{spec}.png")
        print(f"  offline: {spec} vs the logging policy, SNIPS {ev.comparison.summary()} "
              f"→ {ev.plot}")


if __name__ == "__main__":
    sys.exit(main())
