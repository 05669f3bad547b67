"""Load test of `media-ml serve` on 127.0.0.1, beside the same calls made in process.

    python benchmarks/load.py [--keyframes 100000] [--clients 16] [--seconds 30]

A library of ``--keyframes`` keyframes in titles of 100 (CLIP-like synthetic vectors, d = 512,
the mixture of ``benchmarks/index.py``; varied signals; the real ``ViT-B-32`` architecture with
random weights embeds text queries) is written straight into a catalog, indexed, and served by a
real ``media-ml serve`` process. Then, one endpoint at a time, ``--clients`` concurrent clients
(threads with keep-alive connections) call it for ``--seconds`` seconds and stop by themselves:
keyframe search (more like this), text search, suggest and choose. Every response must be 200.
We print p50/p99/max and requests/s per endpoint, beside the same operation called directly on a
``Library`` in this process (one at a time).

Goals (issue 11): zero errors; p99 < 50 ms for keyframe search and suggest, < 150 ms for text
search on this 2-core machine (client and server share it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from index import DIM, Mixture  # noqa: E402

from media_ml.catalog import Catalog  # noqa: E402
from media_ml.library import Library  # noqa: E402

TOKEN = "load-test-token-0123456789"
MODEL = "ViT-B-32:untrained"
WORDS = ("a woman on a beach at night", "two men arguing in a kitchen", "a red car in the rain",
         "a child laughing", "an explosion in a city street", "a quiet forest at dawn",
         "a close-up of a face", "a crowd at a concert", "a dog running on grass",
         "a spaceship over a planet")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build(root: Path, n: int, per_title: int, seed: int) -> None:
    """``n`` keyframes in titles of ``per_title`` (bulk SQL; benchmark only)."""
    from media_ml.extractors.clip import ModelSpec, weights_identity

    rng = np.random.default_rng(seed)
    x = Mixture(centres=max(64, n // 500), d=DIM, spread=1.0, seed=seed).draw(n, seed=seed)
    titles = n // per_title
    (root / "thumbs").mkdir(parents=True, exist_ok=True)
    with Catalog(root, create=True) as cat:
        c = cat.conn
        c.execute("BEGIN")
        c.executemany(
            """INSERT INTO videos (id, path, content_hash, settings, size_bytes, duration_s, fps,
               frames, width, height, rotation, codec, start_time_s, vfr, model, damage,
               ingested_at) VALUES (?, ?, ?, '', 0, ?, 24, ?, 1920, 1080, 0, 'h264', 0, 0, ?,
               '[]', 0)""",
            [(v + 1, f"/synthetic/title{v:05d}.mp4", f"h{v}", per_title * 4.0,
              per_title * 96, MODEL) for v in range(titles)])
        c.executemany(
            """INSERT INTO shots (video_id, idx, start_frame, end_frame, start_s, end_s,
               transition_in) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [(v + 1, s, s * 96, (s + 1) * 96, s * 4.0, (s + 1) * 4.0, "cut" if s else None)
             for v in range(titles) for s in range(per_title)])
        rows = []
        for i in range(titles * per_title):
            v, j = divmod(i, per_title)
            sig = {"brightness": float(rng.uniform(0.3, 0.7)),
                   "exposure": float(rng.uniform(0.6, 1.0)),
                   "contrast": float(rng.uniform(0.2, 0.8)),
                   "colourfulness": float(rng.uniform(0.0, 0.6)),
                   "sharpness": float(rng.uniform(50, 900)), "faces": int(rng.random() < 0.3),
                   "face_area": 0.0, "face_x": None, "face_y": None,
                   "composition": float(rng.uniform(0.3, 0.9)), "black": False,
                   "salient": [0.3, 0.3, 0.4, 0.4]}
            rows.append((i + 1, v + 1, j, j * 96 + 48, j * 4.0 + 2.0, sig["brightness"],
                         sig["exposure"], sig["contrast"], sig["colourfulness"],
                         sig["sharpness"], sig["faces"], sig["composition"], json.dumps(sig)))
        c.executemany(
            """INSERT INTO keyframes (id, video_id, shot_index, frame, time_s, width, height,
               brightness, exposure, contrast, colourfulness, sharpness, faces, composition,
               black, signals, face_boxes, thumbnail) VALUES (?,?,?,?,?,1920,1080,?,?,?,?,?,?,?,
               0,?,'[]','thumbs/none.jpg')""", rows)
        c.executemany("INSERT INTO vectors VALUES (?, ?)",
                      ((i + 1, x[i].tobytes()) for i in range(titles * per_title)))
        weights = weights_identity(ModelSpec.parse(MODEL))
        c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                      [("model", MODEL), ("weights", weights), ("dim", str(DIM)),
                       ("generation", "1"), ("generation_id", uuid.uuid4().hex)])
        c.execute("COMMIT")
    with Library(root) as lib:
        lib.reindex()


def hammer(base: str, op: str, clients: int, seconds: float, n_keyframes: int,
           titles: int) -> tuple[list[float], list[str], list[float]]:
    """Latencies of all requests, errors, and latencies of the second half of the run."""
    import httpx

    lat: list[list[float]] = [[] for _ in range(clients)]
    late: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = time.monotonic()
    deadline = start + seconds

    def client(c: int) -> None:
        rng = np.random.default_rng(c)
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as h:
            while time.monotonic() < deadline:
                if op == "keyframe search":
                    req = ("GET", "/api/search", {"keyframe": int(rng.integers(1, n_keyframes)),
                                                  "k": 24}, None)
                elif op == "text search":
                    req = ("GET", "/api/search", {"text": f"{WORDS[rng.integers(10)]} "
                                                  f"#{rng.integers(1000)}", "k": 24}, None)
                elif op == "suggest":
                    req = ("GET", f"/api/videos/{int(rng.integers(1, titles))}/suggest",
                           {"context": "web-row", "k": 10}, None)
                else:
                    req = ("POST", "/api/choose", None,
                           {"video_id": int(rng.integers(1, 50)), "context": "web-row",
                            "member": {"device": "tv", "hour": int(rng.integers(24))}})
                t0 = time.perf_counter()
                r = h.request(req[0], req[1], params=req[2], json=req[3])
                lat[c].append(time.perf_counter() - t0)
                if time.monotonic() - start > seconds / 2:
                    late[c].append(lat[c][-1])
                if r.status_code != 200:
                    errors.append(f"{op}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for per in lat for x in per], errors, [x for per in late for x in per]


def direct(root: Path, op: str, n: int, n_keyframes: int, titles: int) -> list[float]:
    rng = np.random.default_rng(99)
    out = []
    with Library(root) as lib:
        lib.search(text="warm-up", k=5)
        for _ in range(n):
            t0 = time.perf_counter()
            if op == "keyframe search":
                lib.search(keyframe=int(rng.integers(1, n_keyframes)), k=24)
            elif op == "text search":
                lib.search(text=f"{WORDS[rng.integers(10)]} #{rng.integers(1000)}", k=24)
            elif op == "suggest":
                lib.suggest(int(rng.integers(1, titles)), "web-row", k=10)
            else:
                lib.choose(int(rng.integers(1, 50)), "web-row",
                           {"device": "tv", "hour": int(rng.integers(24))})
            out.append(time.perf_counter() - t0)
    return out


def ms(x: list[float], q: float) -> float:
    return float(np.percentile(np.array(x) * 1e3, q)) if x else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keyframes", type=int, default=100_000)
    p.add_argument("--per-title", type=int, default=100)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--direct", type=int, default=300, help="in-process calls per operation")
    p.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "media" / "load")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    root = args.work / f"lib_{args.keyframes}"
    titles = args.keyframes // args.per_title
    if not (root / "catalog.sqlite").exists():
        log(f"building a library of {args.keyframes} keyframes in {root} ...")
        t0 = time.perf_counter()
        build(root, args.keyframes, args.per_title, args.seed)
        log(f"built in {time.perf_counter() - t0:.0f} s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, MEDIA_ML_TOKEN=TOKEN, HF_HUB_OFFLINE="1")
    server = subprocess.Popen([sys.executable, "-m", "media_ml.cli", "serve", "--library",
                               str(root), "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.5)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; {args.keyframes} keyframes in {titles} titles; "
              f"{args.clients} clients × {args.seconds:g} s per endpoint against "
              f"127.0.0.1 (one `media-ml serve` process)\n")
        print("| endpoint | requests | errors | req/s | p50 ms | p99 ms | p99 ms, 2nd half | "
              "max ms | in-process p50 ms | in-process p99 ms | goal p99 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        goals = {"keyframe search": 50, "text search": 150, "suggest": 50, "choose": None}
        verdicts = []
        for op, goal in goals.items():
            lat, errors, late = hammer(base, op, args.clients, args.seconds, args.keyframes,
                                       titles)
            inproc = direct(root, op, args.direct, args.keyframes, titles)
            ok = not errors and (goal is None or ms(lat, 99) < goal)
            verdicts.append((op, ok, errors[:3]))
            print(f"| {op} | {len(lat)} | {len(errors)} | {len(lat) / args.seconds:.0f} | "
                  f"{ms(lat, 50):.1f} | {ms(lat, 99):.1f} | {ms(late, 99):.1f} | "
                  f"{ms(lat, 100):.1f} | "
                  f"{ms(inproc, 50):.2f} | {ms(inproc, 99):.2f} | "
                  f"{f'< {goal} ms' if goal else '-'} |", flush=True)
        print()
        for op, ok, errors in verdicts:
            print(f"{op}: {'MET' if ok else 'MISSED'}" + (f" — errors: {errors}" if errors else ""))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
