"""``make demo``: ingest the bundled sample media and show what the library holds.

Prints a table of videos, shots and best keyframes and writes an HTML contact sheet.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from media_ml.library import Library
from media_ml.report import contact_sheet

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--media", default=str(ROOT / "sample_media" / "generated"))
    p.add_argument("--out", default=str(ROOT / "demo_output"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    out = Path(args.out)
    with Library(out / "library") as lib:
        report = lib.ingest([args.media], workers=args.workers)
        for f in report.failed:
            print(f"FAILED {f['error']}")
        print(f"\n{len(report.ingested)} ingested, {len(report.skipped)} unchanged, "
              f"{len(report.failed)} failed\n")
        print(f"{'video':<18} {'dur':>7} {'shots':>5} {'kf':>4}  best keyframe (sharpness, faces)")
        for v in lib.videos():
            kfs = lib.keyframes(v.id)
            best = max(kfs, key=lambda k: (not k["signals"]["black"],
                                           k["signals"]["sharpness"]), default=None)
            desc = (f"{best['time_s']:7.2f}s shot {best['shot_index']:<3} "
                    f"({best['signals']['sharpness']:.0f}, {best['signals']['faces']})"
                    if best else "-")
            print(f"{Path(v.path).name:<18} {v.duration_s:6.1f}s {v.shots:>5} {v.keyframes:>4}  "
                  f"{desc}")
        sheet = contact_sheet(lib, out / "contact_sheet.html")
    print(f"\ncontact sheet: {sheet}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
