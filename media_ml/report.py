"""HTML contact sheets: what a person opens to look at shots and keyframes."""

from __future__ import annotations

import html
import os
from pathlib import Path

from media_ml.library import Library
from media_ml.search import Hit
from media_ml.types import Keyframe


def contact_sheet(
    lib: Library, out: str | Path, title: str = "media-ml contact sheet",
    searches: list[tuple[str, list[Hit]]] | None = None, note: str | None = None,
) -> Path:
    """Write an HTML page with every video's shots and keyframe thumbnails; return its path.

    ``searches`` adds one row of hits (``search.Hit``) per ``(caption, hits)``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;background:#111;color:#eee;margin:1em}",
        ".shot{display:inline-block;margin:4px;padding:4px;background:#222;vertical-align:top;"
        "font-size:12px}",
        ".shot img{display:block;max-width:240px;margin-bottom:2px}",
        "h2{font-size:16px;margin-top:1.5em} .dim{color:#999}",
        "</style></head><body>", f"<h1>{html.escape(title)}</h1>",
    ]
    if note:
        parts.append(f"<p style='color:#fb4'>{html.escape(note)}</p>")
    names = {v.id: Path(v.path).name for v in lib.videos()}
    for caption, hits in searches or []:
        parts.append(f"<h2>{html.escape(caption)}</h2>")
        for h in hits:
            rel = os.path.relpath(h.thumbnail, out.parent)
            parts.append(
                f"<div class='shot'><img src='{html.escape(rel)}'>{h.score:.3f} · "
                f"{html.escape(names.get(h.video_id, '?'))} shot {h.shot_index} · "
                f"{h.time_s:.2f}s</div>")
    for v in lib.videos():
        parts.append(
            f"<h2>{html.escape(Path(v.path).name)} <span class='dim'>{v.duration_s:.1f}s · "
            f"{v.width}×{v.height} · {v.shots} shots · {v.keyframes} keyframes</span></h2>")
        if v.damage:
            parts.append(f"<p class='dim'>damaged: {html.escape('; '.join(v.damage))}</p>")
        kfs: dict[int, list[Keyframe]] = {}
        for k in lib.keyframes(v.id):
            kfs.setdefault(k.shot_index, []).append(k)
        for shot in lib.shots(v.id):
            parts.append("<div class='shot'>")
            for k in kfs.get(shot.index, []):
                rel = os.path.relpath(k.thumbnail, out.parent)
                parts.append(
                    f"<img src='{html.escape(rel)}' title='frame {k.frame} · "
                    f"sharpness {k.signals.sharpness:.0f} · faces {k.signals.faces}'>")
            parts.append(
                f"#{shot.index} {shot.start_s:.2f}–{shot.end_s:.2f}s"
                f" <span class='dim'>{shot.transition_in or ''}</span></div>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
