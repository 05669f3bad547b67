"""Vector-index benchmark: media-ml's automatic FAISS index against exact ``IndexFlatIP``.

Data are CLIP-like: d = 512 unit vectors around ``--centres`` cluster centres on the sphere
(lognormal cluster sizes; centres share a common direction, as CLIP embeddings do, so unrelated
vectors have cosine ≈ 0.1–0.2, and ``--spread`` 1.0 puts a vector at cosine ≈ 0.71 from its
centre and ≈ 0.5 from its cluster's other members). Queries are fresh draws
from the same mixture, not stored vectors. For each N it reports, ours and exact side by side:

* build time (ours: factory choice, k-means, adding, nprobe tuning; exact: adding);
* queries/s batched (``--batch`` queries in one call) and one at a time (``--single`` calls);
* recall@10 against exact search on the batched queries;
* bytes per vector of the saved index file.

Goal at 1M: recall@10 ≥ 0.95 at ≥ 10× exact single-query throughput.

Usage::

    .venv/bin/python benchmarks/index.py                       # --sizes 100000 1000000
    .venv/bin/python benchmarks/index.py --sizes 20000 --single 50   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from media_ml.indexes import VectorIndex  # noqa: E402

DIM = 512
K = 10


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit(text: str = "") -> None:
    print(text, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Mixture:
    """Clustered unit vectors: ``normalise(centre + noise)``, centres sharing a mean direction."""

    def __init__(self, centres: int, d: int, spread: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        common = rng.standard_normal(d)
        common /= np.linalg.norm(common)
        raw = rng.standard_normal((centres, d)) / np.sqrt(d) + 0.6 * common
        self.centres = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
        weights = rng.lognormal(0.0, 1.0, centres)
        self.weights = weights / weights.sum()
        self.noise = spread / np.sqrt(d)  # noise of norm ≈ spread: cosine to centre 1/√(1+spread²)

    def draw(self, n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.centres.shape[1]), np.float32)
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            labels = rng.choice(len(self.centres), rows, p=self.weights)
            x = rng.standard_normal((rows, out.shape[1]), dtype=np.float32) * self.noise
            x += self.centres[labels]
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[start:start + rows] = x
        return out


def measure(search: Any, queries: np.ndarray, single: np.ndarray) -> dict[str, Any]:
    """Queries/s for one batched call and for calls of one query each, with the ids found."""
    search(queries[:5], K)  # warm-up
    start = time.perf_counter()
    _, batch_ids = search(queries, K)
    batch_qps = len(queries) / (time.perf_counter() - start)
    single_ids = []
    start = time.perf_counter()
    for q in single:
        single_ids.append(search(q[None, :], K)[1][0])
    single_qps = len(single) / (time.perf_counter() - start)
    return {"batch_qps": batch_qps, "single_qps": single_qps, "batch_ids": batch_ids,
            "single_ids": np.array(single_ids)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def run_size(n: int, mixture: Mixture, args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    log(f"N={n:,}: drawing {n:,}×{DIM} vectors")
    x = mixture.draw(n, seed=args.seed)
    ids = np.arange(n, dtype=np.int64)
    queries = mixture.draw(args.batch, seed=args.seed + 1)
    single = queries[: args.single]
    row: dict[str, Any] = {"n": n}

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        log("exact: build")
        start = time.perf_counter()
        exact = faiss.IndexFlatIP(DIM)
        exact.add(x)
        row["exact_build_s"] = time.perf_counter() - start
        log("exact: batched / single queries")
        m = measure(exact.search, queries, single)
        row["exact_batch_qps"], row["exact_single_qps"] = m["batch_qps"], m["single_qps"]
        truth = m["batch_ids"]
        faiss.write_index(exact, str(Path(tmp) / "exact.faiss"))
        row["exact_bytes"] = file_size(Path(tmp) / "exact.faiss") / n
        del exact
        (Path(tmp) / "exact.faiss").unlink()

        log("ours: build")
        start = time.perf_counter()
        ours = VectorIndex.build(x, ids, seed=args.seed)
        row["ours_build_s"] = time.perf_counter() - start
        row["factory"], row["params"] = ours.factory, ours.search_params
        row["tuned_recall"] = ours.manifest["recall"]["measured"]
        log(f"ours ({ours.factory} {ours.search_params}): batched / single queries")
        m = measure(ours.search, queries, single)
        row["ours_batch_qps"], row["ours_single_qps"] = m["batch_qps"], m["single_qps"]
        row["ours_recall"] = recall(m["batch_ids"], truth)
        row["ours_single_recall"] = recall(m["single_ids"], truth[: args.single])
        start = time.perf_counter()
        ours.save(Path(tmp) / "ours")
        row["ours_save_s"] = time.perf_counter() - start
        row["ours_bytes"] = file_size(Path(tmp) / "ours") / n
        del ours
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def report(row: dict[str, Any], args: argparse.Namespace) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}×"

    rows = [
        ["build (s)", f"{row['ours_build_s']:.1f}", f"{row['exact_build_s']:.1f}",
         ratio(row["ours_build_s"], row["exact_build_s"])],
        [f"queries/s, batch of {args.batch}", f"{row['ours_batch_qps']:,.0f}",
         f"{row['exact_batch_qps']:,.0f}", ratio(row["ours_batch_qps"], row["exact_batch_qps"])],
        [f"queries/s, {args.single} single", f"{row['ours_single_qps']:,.0f}",
         f"{row['exact_single_qps']:,.1f}",
         ratio(row["ours_single_qps"], row["exact_single_qps"])],
        [f"recall@{K} (batch / single)",
         f"{row['ours_recall']:.3f} / {row['ours_single_recall']:.3f}", "1.000", ""],
        ["bytes/vector (saved file)", f"{row['ours_bytes']:,.0f}", f"{row['exact_bytes']:,.0f}",
         ratio(row["ours_bytes"], row["exact_bytes"])],
    ]
    params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "exact"
    head = (f"**N = {row['n']:,}**, d = {DIM}: ours = `{row['factory']}` ({params}; recall@{K} "
            f"on its tuning queries {row['tuned_recall']:.3f}); exact = `IndexFlatIP`; "
            f"peak RSS so far {row['peak_rss_gb']:.1f} GiB")
    return head + "\n\n" + table(["", "ours", "exact", "ours/exact"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--centres", type=int, default=2_000)
    parser.add_argument("--spread", type=float, default=1.0,
                        help="noise norm around a centre (1.0: cosine to the centre ≈ 0.71)")
    parser.add_argument("--batch", type=int, default=1_000, help="queries in the batched call")
    parser.add_argument("--single", type=int, default=200, help="queries made one at a time")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", default=None, help="where to save the indexes for sizing")
    args = parser.parse_args(argv)
    if args.single > args.batch:
        parser.error("--single must not exceed --batch")

    faiss.omp_set_num_threads(args.threads)
    emit("## Machine\n")
    emit(f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; FAISS threads set to "
         f"{faiss.omp_get_max_threads()} (`faiss.omp_set_num_threads({args.threads})`)")
    emit(f"- Python {platform.python_version()}, numpy {np.__version__}, faiss-cpu "
         f"{faiss.__version__}, {platform.platform()}")
    emit(f"- Data: {args.centres} clusters, d = {DIM}, noise norm {args.spread} around each "
         f"centre, seed {args.seed}; {args.batch} batched "
         f"queries, the first {args.single} also one at a time; k = {K}\n")

    goal = None
    for n in args.sizes:
        row = run_size(n, Mixture(args.centres, DIM, args.spread, args.seed), args)
        emit(report(row, args) + "\n")
        if n >= 1_000_000:
            speedup = row["ours_single_qps"] / row["exact_single_qps"]
            met = row["ours_recall"] >= 0.95 and speedup >= 10
            goal = (f"Goal at N = {n:,} (recall@10 ≥ 0.95 at ≥ 10× exact single-query "
                    f"throughput): {'met' if met else 'NOT met'} — recall@10 "
                    f"{row['ours_recall']:.3f}, single-query speed-up {speedup:.1f}×")
    if goal:
        emit(goal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
