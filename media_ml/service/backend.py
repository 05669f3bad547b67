"""What the service reads and writes: libraries per thread, the shared model, images by id.

* Reads use one ``Library`` per server thread (each with its own SQLite connections); the vector
  index is shared by all of them (``Library.index`` caches it per process and generation), so a
  commit by an ``ingest`` in another process is picked up at the next query, never half-seen.
* Decisions and rewards go through one shared ``Personalizer`` (its lock serialises ``choose``,
  whose VW state and random stream must not interleave).
* The embedding model is loaded at start (``warm``): a text query never waits for a load. With a
  Dask scheduler, query embedding runs there (on a GPU worker when the cluster has one).
* Thumbnails and crops are found by id in the catalog; no path from a request reaches the disk.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from media_ml.errors import ModelLoadError, NotFoundError, UsageError
from media_ml.library import Library

log = logging.getLogger(__name__)


class RemoteEmbedder:
    """Query embedding on a Dask cluster (GPU workers when it has them)."""

    def __init__(self, address: str, spec: Any) -> None:
        from distributed import Client

        from media_ml.pipeline import model_resources

        try:
            self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise UsageError(f"--scheduler {address}: cannot connect ({e})") from e
        self.spec = spec
        self.extra = model_resources(self.client)

    def _run(self, texts: list[str] | None, images: list[np.ndarray] | None) -> np.ndarray:
        from media_ml.workers.tasks import embed_query_task

        fut = self.client.submit(embed_query_task, self.spec, texts, images, pure=False,
                                 **self.extra)
        return np.asarray(fut.result(timeout=60), np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self._run(list(texts), None)

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        return self._run(None, [_shrink(im, 448) for im in images])

    def close(self) -> None:
        self.client.close()


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    """At most ``side`` pixels on the long side (the model sees 224²; ship no more)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    return np.asarray(cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA))


def decode_upload(data: bytes, max_pixels: int) -> np.ndarray:
    """An uploaded image as RGB; the pixel count is checked from the header before decoding,
    so a decompression bomb is refused without allocating it."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UsageError("empty upload: send the image bytes as the request body")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UsageError(f"the upload is not an image PIL can read ({e})") from e
    except Image.DecompressionBombError as e:
        raise UsageError(f"image refused: {e}") from e
    if w * h > max_pixels:
        raise UsageError(f"image of {w}x{h} pixels ({w * h:,}) is larger than the limit of "
                         f"{max_pixels:,} pixels")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UsageError("the upload could not be decoded as an image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


class TextBatcher:
    """Concurrent text queries share one forward pass (dynamic batching).

    Callers queue their texts and wait; one thread takes everything queued (up to
    ``max_batch`` texts) and embeds it at once. On a CPU, 16 queries in one batch cost a few
    single ones, so under load latency stays near one forward pass instead of a queue of them.
    """

    def __init__(self, embedder: Any, max_batch: int = 32) -> None:
        import queue

        self.embedder = embedder
        self.max_batch = max_batch
        self._queue: queue.Queue[tuple[list[str], Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="text-batcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import queue

        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            size = len(item[0])
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
                size += len(nxt[0])
            texts = [t for ts, _ in batch for t in ts]
            try:
                vecs = np.asarray(self.embedder.embed_texts(texts), np.float32)
            except BaseException as e:  # every waiter gets the error, none hangs
                for _, fut in batch:
                    fut.set_exception(e)
                continue
            i = 0
            for ts, fut in batch:
                fut.set_result(vecs[i:i + len(ts)])
                i += len(ts)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        from concurrent.futures import Future

        fut: Future[np.ndarray] = Future()
        self._queue.put((list(texts), fut))
        return fut.result(timeout=120)

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.embedder.embed_images(images), np.float32)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


class Backend:
    """The libraries behind one app."""

    def __init__(self, root: Path, scheduler: str | None = None) -> None:
        self.root = root
        self._local = threading.local()
        self._all: list[Library] = []
        self._lock = threading.Lock()
        self.shared = Library(root, create=False)
        self.scheduler = scheduler
        self.remote: RemoteEmbedder | None = None
        self._batcher: tuple[Any, TextBatcher] | None = None

    def lib(self) -> Library:
        """This thread's library (opened on first use)."""
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = Library(self.root, create=False)
            self._local.lib = lib
            with self._lock:
                self._all.append(lib)
        return lib

    def warm(self) -> str | None:
        """Load the embedding model now (and check its weights); returns its name."""
        model = self.shared.catalog.model()
        if model is None:
            return None
        if self.scheduler:
            from media_ml.extractors.clip import ModelSpec

            spec = ModelSpec.parse(model[0], config=self.shared.catalog.model_config())
            self.remote = RemoteEmbedder(self.scheduler, spec)
            self.remote.embed_texts(["warm-up"])
        else:
            self._local_batcher(self.shared).embed_texts(["warm-up"])
        self.shared.index()
        self.shared.personalizer.projection()  # fitted once, not on the first decision
        return model[0]

    def _local_batcher(self, lib: Library) -> TextBatcher:
        """The batcher of the library's current model (a re-embed swaps it)."""
        model = lib.catalog.model()
        with self._lock:
            if self._batcher is None or self._batcher[0] != model:
                if self._batcher is not None:
                    self._batcher[1].close()
                self._batcher = (model, TextBatcher(lib.embedder()))
            return self._batcher[1]

    def embedder(self, lib: Library) -> Callable[[], Any]:
        if self.remote is not None:
            remote = self.remote
            return lambda: remote
        return lambda: self._local_batcher(lib)

    def thumbnail(self, keyframe_id: int) -> bytes:
        lib = self.lib()
        rows = lib.catalog.keyframes_by_id([keyframe_id])
        if keyframe_id not in rows:
            raise NotFoundError(f"unknown keyframe id {keyframe_id}")
        return _read(Path(rows[keyframe_id].thumbnail), f"keyframe {keyframe_id}")

    def crop(self, candidate_id: int, max_side: int = 480) -> bytes:
        """The candidate's crop cut from its keyframe's thumbnail (scaled to the thumbnail)."""
        import cv2

        lib = self.lib()
        cand = lib.catalog.candidate(candidate_id)
        if cand is None or cand.keyframe_id is None:
            raise NotFoundError(f"unknown candidate id {candidate_id}")
        rows = lib.catalog.keyframes_by_id([cand.keyframe_id])
        kf = rows.get(cand.keyframe_id)
        if kf is None:
            raise NotFoundError(f"candidate {candidate_id}: its keyframe left the library")
        data = _read(Path(kf.thumbnail), f"candidate {candidate_id}")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise NotFoundError(f"candidate {candidate_id}: thumbnail unreadable; run "
                                "`media-ml repair`")
        th, tw = img.shape[:2]
        sx, sy = tw / max(1, kf.width), th / max(1, kf.height)
        cx, cy, cw, ch = cand.crop
        x0, y0 = min(tw - 1, int(round(cx * sx))), min(th - 1, int(round(cy * sy)))
        x1 = min(tw, max(x0 + 1, int(round((cx + cw) * sx))))
        y1 = min(th, max(y0 + 1, int(round((cy + ch) * sy))))
        out = img[y0:y1, x0:x1]
        scale = max_side / max(out.shape[:2])
        if scale < 1:
            out = cv2.resize(out, (max(1, round(out.shape[1] * scale)),
                                   max(1, round(out.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not ok:
            raise ModelLoadError("could not encode the crop")
        return bytes(buf)

    def close(self) -> None:
        with self._lock:
            for lib in self._all:
                lib.close()
            self._all.clear()
        self.shared.close()
        if self.remote is not None:
            self.remote.close()
        if self._batcher is not None:
            self._batcher[1].close()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise NotFoundError(f"{what}: thumbnail missing ({e.strerror}); run `media-ml repair`"
                            ) from e
