"""The open_clip embedder: tiny configs written by the tests, local checkpoints, real ViT-B-32."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import skimage.data as data

from media_ml.errors import ModelLoadError, UsageError
from media_ml.extractors.clip import ClipEmbedder, ModelSpec, weights_identity

# Photographs and synthetic frames in several shapes: landscape and portrait, 16:9 video, 2:1,
# square, and smaller than the model's input (upscaled).
_SHAPES = [(512, 512), (400, 600), (360, 640), (64, 128), (300, 200), (50, 70)]


def _frames() -> list[np.ndarray]:
    import cv2

    photo = data.astronaut()
    return [cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA) for h, w in _SHAPES] + [
        data.coffee(), data.chelsea()]


def _two_to_one_flag() -> np.ndarray:
    """A 2:1 frame (64x128): red left quarter, blue right quarter, mid grey between. A squash
    keeps the red and blue at the edges; a centre crop keeps only the grey."""
    img = np.full((64, 128, 3), 128, np.uint8)
    img[:, :32] = (255, 0, 0)
    img[:, 96:] = (0, 0, 255)
    return img


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


def test_preprocessing_is_open_clips_own_transform_bit_for_bit(tiny_model_dir: Path) -> None:
    import open_clip
    import torch
    from PIL import Image

    open_clip.add_model_config(tiny_model_dir)
    _, _, preprocess_val = open_clip.create_model_and_transforms("tiny-test")
    e = ClipEmbedder(ModelSpec.parse("tiny-test:untrained", config=str(tiny_model_dir)))
    assert (e.preprocess_cfg.resize_mode, e.preprocess_cfg.interpolation) == ("shortest", "bicubic")
    frames = _frames()
    theirs = [preprocess_val(Image.fromarray(im)).numpy() for im in frames]
    for im, want in zip(frames, theirs, strict=True):
        got = e.preprocess(im)
        assert got.dtype == np.float32 and got.shape == (3, 64, 64)
        np.testing.assert_array_equal(got, want, err_msg=str(im.shape))
    with torch.inference_mode():
        want_vecs = e.model.encode_image(torch.from_numpy(np.stack(theirs)), normalize=True)
    assert np.allclose(e.embed_images(frames, batch_size=3), want_vecs.numpy(), atol=1e-5)


@pytest.fixture
def tagged_tiny_model(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModelSpec]:
    """Makes specs of a second tiny model, 'tiny-tagged', whose pretrained tag (a local file)
    carries the preprocessing config the test asks for.

    open_clip 3.3 takes a model's preprocessing from its pretrained tag (or from the
    open_clip_config.json of an hf-hub:/local-dir: model), never from a registry model config:
    a "preprocess_cfg" key there is passed on to ``CLIP()`` and refused. So the test registers
    a tag, as open_clip's own SigLIP, CLIPA and PE tags do for squashing models.
    """
    import json

    import open_clip
    import torch
    from open_clip import pretrained

    configs = tmp_path / "configs"
    configs.mkdir()
    tiny = json.loads((tiny_model_dir / "tiny-test.json").read_text())
    (configs / "tiny-tagged.json").write_text(json.dumps(tiny))
    open_clip.add_model_config(configs)
    torch.manual_seed(3)
    weights = tmp_path / "tiny-tagged.pt"
    torch.save(open_clip.create_model("tiny-tagged").state_dict(), weights)
    tags: dict[str, dict[str, object]] = {}
    monkeypatch.setitem(pretrained._PRETRAINED, "tiny-tagged", tags)

    def make(**preprocess: object) -> ModelSpec:
        tag = f"t{len(tags)}"
        tags[tag] = {"file": str(weights), "url": "", "hf_hub": "", **preprocess}
        return ModelSpec("tiny-tagged", pretrained=tag, config=str(configs))

    return make


SQUASH = {"resize_mode": "squash", "interpolation": "bilinear",
          "mean": (0.5, 0.25, 0.75), "std": (0.2, 0.4, 0.1)}


def test_a_model_that_squashes_is_squashed_not_centre_cropped(
    tagged_tiny_model: Callable[..., ModelSpec],
) -> None:
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    spec = tagged_tiny_model(**SQUASH)
    e = ClipEmbedder(spec)
    assert (e.preprocess_cfg.resize_mode, e.preprocess_cfg.interpolation) == ("squash", "bilinear")
    _, _, preprocess_val = open_clip.create_model_and_transforms(
        "tiny-tagged", pretrained=spec.pretrained, image_mean=SQUASH["mean"],
        image_std=SQUASH["std"], image_interpolation="bilinear", image_resize_mode="squash")
    flag = _two_to_one_flag()
    got = e.preprocess(flag)
    np.testing.assert_array_equal(got, preprocess_val(Image.fromarray(flag)).numpy())

    # Known answer: undo the model's own mean and std; red at the left edge, blue at the right.
    rgb = got * np.asarray(SQUASH["std"], np.float32)[:, None, None] + np.asarray(
        SQUASH["mean"], np.float32)[:, None, None]
    assert np.allclose(rgb[:, :, :8].mean(axis=(1, 2)), (1, 0, 0), atol=1e-5)
    assert np.allclose(rgb[:, :, -8:].mean(axis=(1, 2)), (0, 0, 1), atol=1e-5)
    assert np.allclose(rgb[:, :, 28:36], 128 / 255, atol=1e-5)

    # What the hand-written path did (shortest side, centre crop) keeps only the grey middle.
    crop = image_transform_v2(PreprocessCfg(size=64, mean=SQUASH["mean"], std=SQUASH["std"]),
                              is_train=False)(Image.fromarray(flag)).numpy()
    assert not np.allclose(got, crop, atol=0.1)
    assert np.allclose(crop, (128 / 255 - np.asarray(SQUASH["mean"], np.float32)[:, None, None])
                       / np.asarray(SQUASH["std"], np.float32)[:, None, None], atol=1e-5)
    with torch.inference_mode():
        cropped = e.model.encode_image(torch.from_numpy(crop[None]), normalize=True).numpy()
    assert not np.allclose(e.embed_images([flag]), cropped, atol=1e-3)


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_every_resize_mode_and_interpolation_equals_open_clips_transform(
    tagged_tiny_model: Callable[..., ModelSpec], resize_mode: str, interpolation: str
) -> None:
    import open_clip
    from PIL import Image

    spec = tagged_tiny_model(resize_mode=resize_mode, interpolation=interpolation,
                             mean=SQUASH["mean"], std=SQUASH["std"])
    e = ClipEmbedder(spec)
    _, _, preprocess_val = open_clip.create_model_and_transforms(
        "tiny-tagged", pretrained=spec.pretrained, image_mean=SQUASH["mean"],
        image_std=SQUASH["std"], image_interpolation=interpolation,
        image_resize_mode=resize_mode)
    for im in [*_frames(), _two_to_one_flag()]:
        want = preprocess_val(Image.fromarray(im)).numpy()
        np.testing.assert_array_equal(e.preprocess(im), want, err_msg=str(im.shape))


def test_preprocess_refuses_what_is_not_an_rgb_uint8_image(tiny_model_dir: Path) -> None:
    e = ClipEmbedder(ModelSpec.parse("tiny-test:untrained", config=str(tiny_model_dir)))
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                np.zeros((8, 8, 3), np.float32)):
        with pytest.raises(UsageError, match="RGB uint8"):
            e.preprocess(bad)


@pytest.mark.parametrize("preprocess", [{"resize_mode": "stretch"}, {"interpolation": "nearest"}])
def test_a_preprocessing_config_open_clip_cannot_build_is_a_model_load_error(
    tagged_tiny_model: Callable[..., ModelSpec], preprocess: dict[str, str]
) -> None:
    with pytest.raises(ModelLoadError, match="tiny-tagged.*preprocessing config"):
        ClipEmbedder(tagged_tiny_model(**preprocess))
