"""Embeddings at ingest, the library's FAISS index, search and near-duplicate shots."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from media import cut_clip_frames, write_video

from media_ml.cli import main as cli_main
from media_ml.errors import UsageError
from media_ml.library import Library
from media_ml.workers.cluster import dask_client

TINY = "tiny-test:untrained"


@pytest.fixture(scope="module")
def titles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A title, the same title re-encoded at another quality, and an unrelated title.

    A random tiny model puts every picture at cosine ~0.95-0.99; the same picture re-encoded
    stays above 0.999, which is what the duplicate test relies on.
    """
    d = tmp_path_factory.mktemp("titles")
    frames, _ = cut_clip_frames([30, 30, 30], (256, 144), seed=1)
    other, _ = cut_clip_frames([30, 30], (256, 144), seed=40, first_photo=4)
    return {
        "film": write_video(d / "film.mp4", frames),
        "trailer": write_video(d / "trailer.mp4", frames, options={"crf": "35"}),
        "other": write_video(d / "other.mp4", other),
    }


@pytest.fixture(scope="module")
def library(titles: dict[str, Path], tiny_model_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lib")
    with dask_client(workers=2) as client, Library(root) as lib:
        report = lib.ingest(list(titles.values()), model=TINY, model_config=str(tiny_model_dir),
                            client=client, progress=False)
        assert not report.failed
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "-wal" not in p.name
            and "-shm" not in p.name}


def test_ingest_stores_one_vector_per_keyframe_and_builds_the_index(library: Path) -> None:
    with Library(library) as lib:
        ids, vecs = lib.catalog.vectors()
        assert len(ids) == sum(v.keyframes for v in lib.videos()) > 0
        assert vecs.shape[1] == 32
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
        assert {v.model for v in lib.videos()} == {TINY}
    manifest = json.loads((library / "index" / "manifest.json").read_text())
    assert manifest["metadata"]["model"] == TINY
    assert manifest["count"] == len(ids)


def test_more_like_this_finds_the_same_shot_in_the_reencode(library: Path) -> None:
    with Library(library) as lib:
        film, trailer = (next(v for v in lib.videos() if v.path.endswith(n))
                         for n in ("film.mp4", "trailer.mp4"))
        kf = lib.keyframes(film.id)[1]
        hits = lib.search(keyframe=kf.id, k=3)
        assert kf.id not in [h.keyframe_id for h in hits]
        assert (hits[0].video_id, hits[0].shot_index) == (trailer.id, kf.shot_index)
        assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)
        only = lib.search(keyframe=kf.id, k=10, video=film.id)
        assert {h.video_id for h in only} == {film.id}


def test_image_query_finds_its_keyframe_and_k_larger_than_library_returns_all(
    library: Path,
) -> None:
    with Library(library) as lib:
        kf = lib.keyframes()[0]
        hits = lib.search(image=kf.thumbnail, k=1000)
        total = len(lib.catalog.vectors()[0])
        assert len(hits) == total
        # The top hit shows the same picture: the keyframe itself or its twin in the re-encode.
        import cv2

        query = cv2.imread(kf.thumbnail).astype(np.float32)
        top = cv2.imread(hits[0].thumbnail).astype(np.float32)
        assert top.shape == query.shape and float(np.abs(top - query).mean()) < 8.0
        assert hits[0].shot_index == kf.shot_index and hits[0].score > 0.99
        assert hits[-1].score < hits[0].score


def test_text_search_from_cli_follows_the_contract(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["search", "--library", str(library), "--text", "a cat", "-k", "4",
                     "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == TINY and len(doc["hits"]) == 4
    assert set(doc["hits"][0]) == {"keyframe_id", "video_id", "shot_index", "time_s", "score",
                                   "thumbnail"}


def test_duplicates_groups_the_same_shots_across_two_encodes(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["duplicates", "--library", str(library), "--threshold", "0.999",
                     "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    with Library(library) as lib:
        ids = {Path(v.path).name: v.id for v in lib.videos()}
    pairs = {frozenset((s["video_id"], s["shot_index"]) for s in g["shots"]) for g in groups}
    assert pairs == {frozenset({(ids["film.mp4"], shot), (ids["trailer.mp4"], shot)})
                     for shot in range(3)}
    assert all(ids["other.mp4"] not in {s["video_id"] for s in g["shots"]} for g in groups)


@pytest.mark.parametrize("args,needle", [
    (["--text", ""], "empty"),
    (["--image", "/nonexistent.png"], "no such image"),
    (["--keyframe", "999999"], "unknown keyframe"),
    (["--text", "x", "-k", "0"], "k must be"),
    (["--text", "x", "--video", "999"], "unknown video"),
])
def test_bad_queries_exit_2_and_modify_nothing(
    library: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(library)
    assert cli_main(["search", "--library", str(library), *args]) == 2
    assert needle in capsys.readouterr().err
    assert _snapshot(library) == before


def test_non_image_file_query_exits_2(library: Path, tmp_path: Path) -> None:
    txt = tmp_path / "note.png"
    txt.write_text("not an image")
    assert cli_main(["search", "--library", str(library), "--image", str(txt)]) == 2


def test_corrupt_index_is_detected_and_reindex_repairs_it(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_copy = tmp_path / "lib"
    shutil.copytree(library, lib_copy)
    index_file = next(p for p in (lib_copy / "index").iterdir() if p.name != "manifest.json")
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index_file.write_bytes(bytes(data))
    assert cli_main(["search", "--library", str(lib_copy), "--text", "x"]) == 2
    assert "reindex" in capsys.readouterr().err
    assert cli_main(["reindex", "--library", str(lib_copy)]) == 0
    capsys.readouterr()
    assert cli_main(["search", "--library", str(lib_copy), "--text", "x", "--json"]) == 0


def test_library_without_embeddings_has_no_index(
    titles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Library(tmp_path / "plain") as lib:
        lib.ingest([titles["other"]], model="none", workers=1, progress=False)
        with pytest.raises(UsageError, match="no index"):
            lib.search(text="x")
    assert cli_main(["search", "--library", str(tmp_path / "plain"), "--text", "x"]) == 2


def test_another_model_is_refused_until_reembed(
    library: Path, titles: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch

    from media_ml.extractors.clip import ClipEmbedder, ModelSpec

    lib_copy = tmp_path / "lib"
    shutil.copytree(library, lib_copy)
    src = ClipEmbedder(ModelSpec("tiny-test", seed=3, config=str(tiny_model_dir)))
    ckpt = tmp_path / "tuned.pt"
    torch.save(src.model.state_dict(), ckpt)
    spec = f"tiny-test:{ckpt}"
    with Library(lib_copy) as lib:
        with pytest.raises(UsageError, match="reembed"):
            lib.ingest([titles["other"]], model=spec, model_config=str(tiny_model_dir),
                       workers=1, progress=False)
        n = lib.reembed(spec, config=str(tiny_model_dir), workers=2, progress=False)
        assert n == len(lib.catalog.vectors()[0])
        assert lib.catalog.model()[0] == spec  # type: ignore[index]
        kf = lib.keyframes()[0]
        assert lib.search(keyframe=kf.id, k=2)  # the rebuilt index answers
    manifest = json.loads((lib_copy / "index" / "manifest.json").read_text())
    assert manifest["metadata"]["model"] == spec


@pytest.mark.slow
def test_embedding_tasks_go_to_gpu_workers_when_the_cluster_has_them(
    titles: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from distributed import get_task_stream
    from helpers import cluster_with_gpu_worker

    from media_ml.pipeline import model_resources

    with cluster_with_gpu_worker() as (client, gpu_addr):
        assert model_resources(client) == {"resources": {"GPU": 1}}
        with get_task_stream(client) as stream, Library(tmp_path / "lib") as lib:
            report = lib.ingest([titles["film"], titles["other"]], model=TINY,
                                model_config=str(tiny_model_dir), client=client, progress=False)
        assert not report.failed
    where = {str(t["key"]).split("-")[0]: set() for t in stream.data}
    for t in stream.data:
        where[str(t["key"]).split("-")[0]].add(t["worker"])
    assert where["keyframes"] == {gpu_addr}  # every embedding task ran on the GPU worker
    assert len(where["segment_features"]) >= 1
