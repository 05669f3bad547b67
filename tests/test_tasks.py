"""Worker tasks: decoding beside inference in ``embed_frames_task``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from media_ml.extractors import video
from media_ml.extractors.clip import ModelSpec
from media_ml.workers import tasks


class FailingEmbedder:
    """Preprocesses like a model with 8×8 inputs; its forward pass always fails."""

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return np.zeros((3, 8, 8), np.float32)

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("forward pass failed")


def _ref(path: Path) -> tasks.VideoRef:
    info = video.probe(path)
    return tasks.VideoRef(str(path), info.rotation, info.width, info.height)


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "embed-decode" and t.is_alive()]


@pytest.mark.timeout(60)
def test_a_failing_model_stops_the_decoder_and_closes_the_file(
    cuts_clip: tuple[Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = cuts_clip
    targets = video.frame_targets(video.probe(path), list(range(0, 170, 5)))
    monkeypatch.setattr(tasks, "load_embedder", lambda spec, threads=None: FailingEmbedder())
    finished: list[str] = []
    real = video.iter_frames_at

    def watched(*args: Any, **kwargs: Any) -> Iterator[tuple[int, object]]:
        try:
            yield from real(*args, **kwargs)
        finally:  # runs only once the generator is exhausted or closed (and the file with it)
            finished.append("closed")

    monkeypatch.setattr(video, "iter_frames_at", watched)
    before = _decode_threads()
    # One frame a batch and 34 frames: without a stop, the decoder would block on a full queue.
    with pytest.raises(RuntimeError, match="forward pass failed"):
        tasks.embed_frames_task(_ref(path), targets, ModelSpec("any"), batch_size=1)
    assert _decode_threads() == before
    assert finished == ["closed"]


def test_a_tiny_model_embeds_each_requested_frame_once(
    cuts_clip: tuple[Path, list[int]], tiny_model_dir: Path
) -> None:
    path, _ = cuts_clip
    wanted = [0, 29, 30, 97, 169]
    targets = video.frame_targets(video.probe(path), wanted)
    spec = ModelSpec.parse("tiny-test:untrained", config=str(tiny_model_dir))
    before = _decode_threads()
    out = tasks.embed_frames_task(_ref(path), targets, spec, batch_size=2)
    assert [i for i, _ in out] == wanted
    vectors = np.stack([v for _, v in out])
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # 29 and 30 straddle a cut: different pictures, different vectors.
    assert not np.allclose(vectors[1], vectors[2], atol=1e-3)
    assert _decode_threads() == before
