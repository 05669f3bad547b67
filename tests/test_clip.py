"""The open_clip embedder: tiny configs written by the tests, local checkpoints, real ViT-B-32."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data as data

from media_ml.errors import ModelLoadError, UsageError
from media_ml.extractors.clip import ClipEmbedder, ModelSpec, weights_identity


def test_spec_parsing_covers_tags_files_and_untrained(tmp_path: Path) -> None:
    assert ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k") == ModelSpec(
        "ViT-B-32", pretrained="laion2b_s34b_b79k")
    assert ModelSpec.parse("untrained").untrained
    assert ModelSpec.parse("RN50:untrained").arch == "RN50"
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"x")
    assert ModelSpec.parse(str(ckpt)).checkpoint == str(ckpt)
    assert ModelSpec.parse(f"ViT-B-16:{ckpt}") == ModelSpec("ViT-B-16", checkpoint=str(ckpt))
    assert ModelSpec.parse("untrained").name == "ViT-B-32:untrained"
    with pytest.raises(UsageError):
        ModelSpec.parse("  ")


def test_tiny_model_embeds_normalised_and_seeded(tiny_model_dir: Path) -> None:
    spec = ModelSpec.parse("tiny-test:untrained", config=str(tiny_model_dir))
    a = ClipEmbedder(spec)
    b = ClipEmbedder(spec)
    imgs = [data.astronaut(), data.coffee(), np.zeros((50, 70, 3), np.uint8)]
    va, vb = a.embed_images(imgs), b.embed_images(imgs)
    assert va.shape == (3, 32) and va.dtype == np.float32
    assert np.allclose(np.linalg.norm(va, axis=1), 1, atol=1e-5)
    assert np.allclose(va, vb, atol=1e-6)  # same seed, same weights
    assert not np.allclose(va[0], va[1])
    other = ClipEmbedder(ModelSpec("tiny-test", seed=1, config=str(tiny_model_dir)))
    assert not np.allclose(other.embed_images(imgs[:1]), va[:1])
    t = a.embed_texts(["a woman in a space suit", "a cup of coffee"])
    assert t.shape == (2, 32) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)


def test_overlong_text_is_truncated_with_a_warning_and_empty_text_refused(
    tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    e = ClipEmbedder(ModelSpec.parse("tiny-test:untrained", config=str(tiny_model_dir)))
    v = e.embed_texts(["a very long description of a scene " * 10])
    assert v.shape == (1, 32)
    assert "truncated" in caplog.text
    with pytest.raises(UsageError):
        e.embed_texts([" "])


def test_checkpoint_written_by_the_test_loads_and_reproduces_embeddings(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch

    src = ClipEmbedder(ModelSpec("tiny-test", seed=7, config=str(tiny_model_dir)))
    ckpt = tmp_path / "tiny.pt"
    torch.save(src.model.state_dict(), ckpt)
    spec = ModelSpec.parse(f"tiny-test:{ckpt}", config=str(tiny_model_dir))
    loaded = ClipEmbedder(spec)
    imgs = [data.chelsea(), data.rocket()]
    assert np.allclose(loaded.embed_images(imgs), src.embed_images(imgs), atol=1e-6)
    assert np.allclose(loaded.embed_texts(["cat"]), src.embed_texts(["cat"]), atol=1e-6)
    assert weights_identity(spec).startswith("sha256:")


def test_a_broken_checkpoint_is_a_model_load_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="bad.pt"):
        ClipEmbedder(ModelSpec.parse(f"tiny-test:{bad}", config=str(tiny_model_dir)))
    with pytest.raises(ModelLoadError, match="does not exist"):
        ClipEmbedder(ModelSpec("tiny-test", checkpoint=str(tmp_path / "nope.pt"),
                               config=str(tiny_model_dir)))


def test_missing_pretrained_weights_fail_fast_saying_how_to_provide_them() -> None:
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="checkpoint|HF_HUB_OFFLINE|untrained"):
        ClipEmbedder(ModelSpec.parse("ViT-B-32:laion2b_s34b_b79k"))
    assert time.monotonic() - start < 30  # cache-only look-up: no hub retries


def test_real_vit_b32_architecture_untrained_smoke() -> None:
    e = ClipEmbedder(ModelSpec.parse("untrained"))
    v = e.embed_images([data.astronaut()])
    t = e.embed_texts(["an astronaut"])
    assert v.shape == (1, 512) and t.shape == (1, 512)
    assert e.image_size == 224
