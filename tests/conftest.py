from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sample_media"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from media import cut_clip_frames, write_video  # noqa: E402


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The short sample clips with ground truth (built once per session, or reused if built)."""
    import make_samples

    built = ROOT / "sample_media" / "generated"
    names = ("cuts", "gradual", "distractors", "mixed", "faces", "bikes")
    if all((built / f"{n}.mp4").exists() and (built / f"{n}.json").exists() for n in names):
        return built
    out = tmp_path_factory.mktemp("samples")
    make_samples.build_all(out)
    return out


@pytest.fixture(scope="session")
def cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """A 6-shot 320×180 H.264 clip with hard cuts and short GOPs (many keyframes)."""
    frames, cuts = cut_clip_frames([30, 22, 40, 18, 35, 25], (320, 180))
    path = tmp_path_factory.mktemp("clips") / "six_shots.mp4"
    write_video(path, frames, fps=25, gop=10)
    return path, cuts


TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny open_clip model config ('tiny-test'), written by the test."""
    import json

    d = tmp_path_factory.mktemp("model_configs")
    (d / "tiny-test.json").write_text(json.dumps(TINY_CONFIG))
    return d


@pytest.fixture(scope="session")
def two_titles_library(samples_dir: Path, tiny_model_dir: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of cuts.mp4 (video 1) and faces.mp4 (video 2) embedded with the tiny model.
    A template: tests copy it (``shutil.copytree``) before writing."""
    from media_ml.library import Library

    root = tmp_path_factory.mktemp("two_titles") / "lib"
    with Library(root) as lib:
        rep = lib.ingest([samples_dir / "cuts.mp4", samples_dir / "faces.mp4"],
                         model="tiny-test:untrained", model_config=str(tiny_model_dir),
                         workers=0, progress=False)
        assert not rep.failed
    return root


@pytest.fixture
def base_library(two_titles_library: Path) -> Path:
    return two_titles_library


@pytest.fixture
def lib_root(two_titles_library: Path, tmp_path: Path) -> Path:
    """A writable copy of ``two_titles_library``."""
    import shutil

    root = tmp_path / "lib"
    shutil.copytree(two_titles_library, root)
    return root
