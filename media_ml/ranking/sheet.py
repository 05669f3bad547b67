"""Write suggestions as files a person looks at: the cropped stills at source resolution, an
HTML contact sheet with scores and reasons, and a PNG grid of the same."""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from media_ml.errors import DecodeError, UsageError
from media_ml.extractors import video

if TYPE_CHECKING:
    from media_ml.library import Library
    from media_ml.ranking.suggest import Candidate, Suggestions


def _frames(path: str, rotation: int, cands: list[Candidate]) -> dict[int, np.ndarray]:
    targets = []
    info = None
    for c in cands:
        pts, seek = c.source.get("pts"), c.source.get("seek_pts")
        if pts is None:  # libraries from before pts were stored: probe once
            info = info or video.probe(path)
            targets.extend(video.frame_targets(info, [c.frame]))
        else:
            targets.append((c.frame, int(pts), None if seek is None else int(seek)))
    targets.sort()
    return {i: video.frame_to_rgb(f, rotation)
            for i, f in video.iter_frames_at(path, targets, threads=0)}


def write_suggestions(lib: Library, sugg: Suggestions, out: str | Path
                      ) -> tuple[list[Candidate], Path, Path]:
    """Write crops, ``index.html`` and ``sheet.png`` under ``out``; return the candidates with
    their ``image`` set, and the two sheet paths.

    The source file is checked first: a file changed since it was ingested is an error that
    says what to run (``SourceChangedError``), never decoded as if it were the old one.
    """
    import cv2

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    lib.check_source(sugg.video_id)
    out.mkdir(parents=True, exist_ok=True)
    v = lib.video(sugg.video_id)
    frames = _frames(v.path, v.rotation, sugg.candidates)
    if sugg.candidates and not frames:
        raise DecodeError(v.path, "none of the suggested frames could be decoded")
    written = []
    tiles = []
    for c in sugg.candidates:
        rgb = frames.get(c.frame)
        if rgb is None:
            written.append(c)
            continue
        x, y, w, h = c.crop["x"], c.crop["y"], c.crop["w"], c.crop["h"]
        crop = np.ascontiguousarray(rgb[y : y + h, x : x + w])
        name = out / f"{sugg.context.name}_{c.rank:02d}_cand{c.candidate_id}.jpg"  # safe name
        cv2.imwrite(str(name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
        written.append(dataclasses.replace(c, image=str(name)))
        tiles.append(_tile(crop, c))
    sheet_png = out / "sheet.png"
    if tiles:
        cols = min(5, len(tiles))
        while len(tiles) % cols:
            tiles.append(np.full_like(tiles[0], 24))
        grid = np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
        cv2.imwrite(str(sheet_png), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    sheet_html = out / "index.html"
    sheet_html.write_text(_html(sugg, written), encoding="utf-8")
    (out / "suggestions.json").write_text(json.dumps(
        {**sugg.as_json(), "candidates": [c.as_json() for c in written]}, indent=2,
        allow_nan=False))
    return written, sheet_html, sheet_png


def _tile(crop: np.ndarray, c: Candidate, box: int = 300) -> np.ndarray:
    """The crop fitted into a ``box``-wide tile with its rank, score and top reasons."""
    import cv2

    h, w = crop.shape[:2]
    s = min(box / w, (box - 10) / h)
    img = cv2.resize(crop, (max(1, int(w * s)), max(1, int(h * s))),
                     interpolation=cv2.INTER_AREA)
    tile = np.full((box + 70, box, 3), 24, np.uint8)
    tile[: img.shape[0], : img.shape[1]] = img
    lines = [f"#{c.rank} score {c.score:.3f} shot {c.shot_index} {c.time_s:.1f}s",
             *[r[:44] for r in c.reasons[:3]]]
    for j, text in enumerate(lines):
        cv2.putText(tile, text, (4, box + 2 + 16 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (235, 235, 235), 1, cv2.LINE_AA)
    return tile


def _html(sugg: Suggestions, cands: list[Candidate]) -> str:
    ctx = sugg.context
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(ctx.name)} suggestions for video {sugg.video_id}</title>",
        "<style>body{font-family:sans-serif;background:#111;color:#eee;margin:1em}"
        ".c{display:inline-block;vertical-align:top;width:320px;margin:6px;padding:6px;"
        "background:#222;font-size:12px}.c img{max-width:320px;max-height:320px;display:block}"
        "table{font-size:11px;color:#bbb}.dim{color:#999}</style></head><body>",
        f"<h1>{html.escape(ctx.name)} <span class='dim'>{ctx.aspect[0]}:{ctx.aspect[1]}, "
        f"min {ctx.min_size[0]}×{ctx.min_size[1]}, video {sugg.video_id}</span></h1>",
    ]
    if sugg.filtered:
        parts.append("<p class='dim'>left out: " + html.escape(", ".join(
            f"{n} {r}" for r, n in sorted(sugg.filtered.items()))) + "</p>")
    if sugg.rejected:
        parts.append(f"<p class='dim'>rejected by editors (not proposed): "
                     f"{', '.join(map(str, sugg.rejected))}</p>")
    for c in cands:
        img = (f"<img src='{html.escape(Path(c.image).name)}'>" if c.image
               else "<p>(frame could not be decoded)</p>")
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:+.3f}</td></tr>"
                       for k, v in sorted(c.contributions.items(), key=lambda kv: -kv[1]))
        verdict = f" · <b>{c.feedback}ed</b>" if c.feedback else ""
        parts.append(
            f"<div class='c'>{img}<b>#{c.rank}</b> score {c.score:.3f} · candidate "
            f"{c.candidate_id} · shot {c.shot_index} · {c.time_s:.2f}s{verdict}<br>"
            f"crop {c.crop['w']}×{c.crop['h']} at ({c.crop['x']}, {c.crop['y']})"
            f"<table>{rows}</table><div class='dim'>"
            + "<br>".join(html.escape(r) for r in c.reasons) + "</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
