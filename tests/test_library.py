"""The library never loses an editor's work and trusts nothing by coincidence: re-ingest keeps
ids and verdicts, thumbnails are never shared away, the index and the model prove what they are,
changed sources are caught before decoding, one writer at a time, readers never wait."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from media import cut_clip_frames, write_video

from media_ml import Library
from media_ml.catalog import Catalog
from media_ml.errors import LibraryError, ModelLoadError, SourceChangedError, UsageError
from media_ml.extractors.shots import ShotDetectorConfig
from media_ml.lockfile import WriterLock
from media_ml.pipeline import IngestSettings

TINY = "tiny-test:untrained"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("lib_clips")
    out = {}
    for name, lengths, first in (("a", [30, 25, 35], 0), ("b", [40, 30], 3),
                                 ("short", [20, 15], 1)):
        frames, _ = cut_clip_frames(lengths, (640, 360), seed=len(name), first_photo=first)
        out[name] = write_video(d / f"{name}.mp4", frames, gop=15)
    return out


def _ingest(lib: Library, paths: list[Path] | Path, **kw: object) -> dict:
    report = lib.ingest(paths, workers=0, progress=False, **kw)  # type: ignore[arg-type]
    assert not report.failed, report.failed
    return report.as_json()


def test_reingest_with_new_settings_keeps_video_id_candidates_and_verdicts(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    clip = Path(shutil.copy(clips["a"], tmp_path / "title.mp4"))
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, clip, model="none")
        vid = lib.videos()[0].id
        first = lib.suggest(vid, "web-row", k=5)
        assert len(first) >= 2
        rejected, accepted = first[0], first[1]
        lib.feedback(rejected.candidate_id, "reject", "eyes closed")
        lib.feedback(accepted.candidate_id, "accept")
        before = [v.as_json() for v in lib.verdicts()]
        old_keyframes = {k.id for k in lib.keyframes()}
        # New settings (a detector field changed) re-analyse the same file.
        settings = IngestSettings(detector=ShotDetectorConfig(cut_min=5.5))
        report = _ingest(lib, clip, model="none", settings=settings)
        assert [Path(e["path"]).name for e in report["ingested"]] == ["title.mp4"]
        assert lib.videos()[0].id == vid
        new_keyframes = {k.id for k in lib.keyframes()}
        assert not new_keyframes & old_keyframes  # ids are never reused
        assert min(new_keyframes) > max(old_keyframes)
        after = [v.as_json() for v in lib.verdicts()]
        assert [(v["id"], v["candidate_id"], v["verdict"], v["note"]) for v in after] == \
               [(v["id"], v["candidate_id"], v["verdict"], v["note"]) for v in before]
        assert all(v["keyframe_id"] in new_keyframes for v in after)  # re-linked
        again = lib.suggest(vid, "web-row", k=5)
        ids = [c.candidate_id for c in again]
        assert rejected.candidate_id not in ids and rejected.keyframe_id not in ids
        assert rejected.candidate_id in again.rejected
        assert accepted.candidate_id in ids  # the same id names the same picture
        assert {c.candidate_id: c.feedback for c in again}[accepted.candidate_id] == "accept"


def test_settings_fingerprint_is_explicit_and_ignores_new_fields_at_their_default() -> None:
    base = IngestSettings()

    @dataclasses.dataclass(frozen=True)
    class Detector(ShotDetectorConfig):
        a_new_knob: float = 1.0

    assert dataclasses.replace(base, detector=Detector()).fingerprint() == base.fingerprint()
    changed = dataclasses.replace(base, detector=Detector(a_new_knob=2.0))
    assert changed.fingerprint() != base.fingerprint()
    assert dataclasses.replace(base, segment_s=10).fingerprint() == base.fingerprint()
    from media_ml.pipeline import SETTINGS_VERSION

    assert base.fingerprint().startswith(f"v{SETTINGS_VERSION}-")
    assert base.fingerprint(version=1) != base.fingerprint(version=2)  # a new version redoes


def test_identical_files_at_two_paths_keep_their_own_thumbnails(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    one = Path(shutil.copy(clips["a"], tmp_path / "one.mp4"))
    two = Path(shutil.copy(clips["a"], tmp_path / "two.mp4"))
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, [one, two], model="none")
        shutil.copy(clips["b"], one)  # new content at one path
        _ingest(lib, one, model="none")
        for k in lib.keyframes():
            assert Path(k.thumbnail).read_bytes()[:2] == b"\xff\xd8", k


def test_repair_regenerates_missing_thumbnails_and_drops_orphan_folders(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, clips["a"], model="none")
        kfs = lib.keyframes()
        gone = Path(kfs[0].thumbnail)
        original = gone.read_bytes()
        gone.unlink()
        (tmp_path / "lib" / "thumbs" / "deadbeefdeadbeef").mkdir()  # a crash's leftover
        done = lib.repair(progress=False)
        assert done["thumbnails_restored"] == 1 and done["folders_removed"] == 1
        assert not done["problems"]
        import cv2

        restored = cv2.imdecode(np.frombuffer(gone.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        first = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)
        assert restored.shape == first.shape
        assert float(np.abs(restored.astype(float) - first.astype(float)).mean()) < 3.0


def test_one_path_string_is_one_file(clips: dict[str, Path], tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        report = _ingest(lib, str(clips["short"]), model="none")
    assert [Path(e["path"]).name for e in report["ingested"]] == ["short.mp4"]


def test_a_zero_byte_catalog_is_not_taken_for_a_new_library(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "catalog.sqlite").write_bytes(b"")
    with pytest.raises(LibraryError, match="empty"):
        Library(tmp_path / "lib")
    (tmp_path / "lib" / "catalog.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(LibraryError, match="cannot open catalog"):
        Library(tmp_path / "lib")


# -- models -------------------------------------------------------------------------------


def _checkpoint(path: Path, config_dir: Path, seed: int) -> Path:
    import open_clip
    import torch

    open_clip.add_model_config(str(config_dir))
    torch.manual_seed(seed)
    model = open_clip.create_model("tiny-test")
    torch.save(model.state_dict(), path)
    return path


def test_model_identity_is_checked_wherever_the_model_is_loaded(
    clips: dict[str, Path], tiny_model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ckpt = _checkpoint(tmp_path / "tiny.pt", tiny_model_dir, 1)
    monkeypatch.chdir(tmp_path)
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, clips["a"], model="tiny-test:tiny.pt", model_config=str(tiny_model_dir))
        name = lib.catalog.model()[0]  # type: ignore[index]
        assert name == f"tiny-test:{ckpt}"  # stored absolute, not relative to the cwd
        # Later ingests use the stored model and its stored config.
        _ingest(lib, clips["b"])
        assert len(lib.videos()) == 2 and lib.search(text="a cat", k=3)
        with pytest.raises(UsageError, match="reembed"):
            lib.ingest(clips["short"], model="none", workers=0, progress=False)
    _checkpoint(ckpt, tiny_model_dir, 2)  # replaced on disk by other weights
    with Library(tmp_path / "lib", readonly=True) as lib:
        with pytest.raises(ModelLoadError, match="reembed") as e:
            lib.search(text="a cat", k=3)
        assert "--model SPEC" in str(e.value) and f"--model {name}" not in str(e.value)
        with pytest.raises(ModelLoadError, match="reembed"):
            lib.suggest(1, "mobile-boxart")  # its prompts need the model
        assert lib.search(keyframe=lib.keyframes()[0].id, k=2)  # vectors alone still answer


def test_pretrained_tag_missing_from_the_cache_fails_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from media_ml.extractors.clip import ModelSpec, load_embedder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.delenv("MEDIA_ML_ALLOW_DOWNLOAD", raising=False)
    import time

    t0 = time.monotonic()
    with pytest.raises(ModelLoadError, match="MEDIA_ML_ALLOW_DOWNLOAD"):
        load_embedder(ModelSpec.parse("RN50:yfcc15m"))
    assert time.monotonic() - t0 < 20  # no network retries (they take ~45 s here)


# -- the index --------------------------------------------------------------------------------


def test_an_index_from_another_catalog_is_never_used(
    clips: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["a"], model=TINY, model_config=str(tiny_model_dir))
    old_index = root / "index"
    assert (old_index / "manifest.json").is_file()
    saved = tmp_path / "index_copy"
    shutil.copytree(old_index, saved)
    shutil.rmtree(root)  # the catalog is recreated; an old index folder is put back
    with Library(root) as lib:
        _ingest(lib, clips["b"], model=TINY, model_config=str(tiny_model_dir))
    shutil.rmtree(root / "index")
    shutil.copytree(saved, root / "index")
    with Library(root, readonly=True) as lib:
        b = lib.videos()[0]
        hits = lib.search(keyframe=lib.keyframes(b.id)[0].id, k=50)
        assert hits and {h.video_id for h in hits} == {b.id}
        assert {h.keyframe_id for h in hits} | {lib.keyframes(b.id)[0].id} == \
               {k.id for k in lib.keyframes()}


def test_a_lagging_index_is_completed_by_readers_and_updated_in_place_by_writers(
    clips: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["a"], model=TINY, model_config=str(tiny_model_dir))
        manifest = json.loads((root / "index" / "manifest.json").read_text())
    saved = tmp_path / "index_at_a"
    shutil.copytree(root / "index", saved)
    with Library(root) as lib:
        _ingest(lib, clips["b"])
        shutil.copy(clips["short"], clips["a"].parent / "tmp_a.mp4")
    # Put the older index back: a reader sees what is committed, writing nothing.
    shutil.rmtree(root / "index")
    shutil.copytree(saved, root / "index")
    with Library(root, readonly=True) as lib:
        all_ids = {k.id for k in lib.keyframes()}
        hits = lib.search(keyframe=min(all_ids), k=1000)
        assert {h.keyframe_id for h in hits} | {min(all_ids)} == all_ids
    assert json.loads((root / "index" / "manifest.json").read_text()) == manifest
    with Library(root) as lib:  # a writer brings it up to date in place
        lib.repair(progress=False)
        meta = json.loads((root / "index" / "manifest.json").read_text())["metadata"]
        assert meta["generation_id"] == lib.catalog.state()["generation_id"]
        assert json.loads((root / "index" / "manifest.json").read_text())["count"] == \
               len(all_ids)


# -- changed sources ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("replacement", ["short", "b"])
def test_a_changed_source_is_reported_before_any_decoding(
    clips: dict[str, Path], tmp_path: Path, replacement: str
) -> None:
    from media_ml.ranking.sheet import write_suggestions

    clip = Path(shutil.copy(clips["a"], tmp_path / "title.mp4"))
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, clip, model="none")
        sugg = lib.suggest(1, "web-row", k=3)
        shutil.copy(clips[replacement], clip)
        with pytest.raises(SourceChangedError, match="media-ml ingest"):
            write_suggestions(lib, sugg, tmp_path / "out")
        assert not (tmp_path / "out" / "index.html").exists()
        clip.unlink()
        with pytest.raises(SourceChangedError, match="gone"):
            write_suggestions(lib, sugg, tmp_path / "out")


def test_touching_an_unchanged_source_is_not_a_change(clips: dict[str, Path],
                                                      tmp_path: Path) -> None:
    from media_ml.ranking.sheet import write_suggestions

    clip = Path(shutil.copy(clips["a"], tmp_path / "title.mp4"))
    with Library(tmp_path / "lib") as lib:
        _ingest(lib, clip, model="none")
        os.utime(clip, (1_000_000, 1_000_000))
        sugg = lib.suggest(1, "web-row", k=3)
        cands, html, png = write_suggestions(lib, sugg, tmp_path / "out")
        assert all(c.image and Path(c.image).is_file() for c in cands) and png.is_file()


# -- processes sharing a library --------------------------------------------------------------


def test_a_second_writer_is_told_who_writes_or_waits(clips: dict[str, Path],
                                                     tmp_path: Path) -> None:
    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["short"], model="none")
    holder = WriterLock(root, what="media-ml ingest (test)")
    holder.acquire()
    try:
        with Library(root) as lib, pytest.raises(LibraryError, match=f"PID {os.getpid()}"):
            lib.ingest(clips["a"], model="none", workers=0, progress=False)
        timer = threading.Timer(1.0, holder.release)
        timer.start()
        with Library(root, wait=60) as lib:
            _ingest(lib, clips["a"], model="none")
            assert len(lib.videos()) == 2
        timer.join()
    finally:
        holder.release()


@pytest.mark.timeout(60)
def test_readers_never_wait_behind_a_writer(clips: dict[str, Path], tiny_model_dir: Path,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["a"], model=TINY, model_config=str(tiny_model_dir))
    writer = sqlite3.connect(root / "catalog.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process mid-transaction
    writer.execute("UPDATE meta SET value=value WHERE key='generation'")
    monkeypatch.setenv("MEDIA_ML_LOCK_TIMEOUT_S", "50")
    result: dict[str, object] = {}

    def read() -> None:
        with Library(root, readonly=True) as lib:
            result["videos"] = len(lib.videos())
            result["hits"] = len(lib.search(keyframe=lib.keyframes()[0].id, k=3))
            result["expected"] = min(3, len(lib.keyframes()) - 1)

    t = threading.Thread(target=read)
    t.start()
    t.join(20)  # a hang guard: readers must not wait for the 50 s lock timeout
    alive = t.is_alive()
    writer.execute("ROLLBACK")
    writer.close()
    t.join()
    assert not alive and result["videos"] == 1 and result["hits"] == result["expected"] >= 1


def test_a_long_held_catalog_lock_fails_files_with_a_report_not_a_traceback(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from media_ml.cli import main as cli_main

    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["short"], model="none")
    monkeypatch.setenv("MEDIA_ML_LOCK_TIMEOUT_S", "0.5")
    blocker = sqlite3.connect(root / "catalog.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        code = cli_main(["ingest", str(clips["a"]), "--library", str(root), "--model", "none",
                         "--workers", "0", "--json", "--no-progress"])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    doc = json.loads(out)
    assert [Path(f["path"]).name for f in doc["failed"]] == ["a.mp4"]
    assert "write lock" in doc["failed"][0]["error"]
    with Catalog(root, readonly=True) as cat:
        assert [Path(v.path).name for v in cat.videos()] == ["short.mp4"]
        assert cat.integrity() == "ok"


def test_a_read_only_library_can_be_read(clips: dict[str, Path], tiny_model_dir: Path,
                                         tmp_path: Path) -> None:
    import subprocess
    import sys
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ro-lib-"))
    try:
        os.chmod(base, 0o755)
        root = base / "lib"
        with Library(root) as lib:
            _ingest(lib, clips["a"], model=TINY, model_config=str(tiny_model_dir))
        cfg = base / "configs"
        shutil.copytree(tiny_model_dir, cfg)
        with Library(root) as lib:
            lib.catalog.set_meta("model_config", str(cfg))
        before = (root / "catalog.sqlite").read_bytes()
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        code = ("import sys, json; from media_ml import Library\n"
                "with Library(sys.argv[1], readonly=True) as lib:\n"
                "    kf = lib.keyframes()[0]\n"
                "    print(json.dumps([len(lib.videos()), len(lib.search(keyframe=kf.id, k=2)),"
                " len(lib.search(text='a cat', k=2))]))\n")
        cmd = [sys.executable, "-c", code, str(root)]
        if os.geteuid() == 0:  # root ignores permissions: read through a read-only mount
            ro = f"mount --bind {base} {base} && mount -o remount,ro,bind {base} {base}"
            cmd = ["unshare", "-m", "sh", "-c", f'{ro} && exec "$0" "$@"', *cmd]
        env = {**os.environ, "HOME": str(base)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env,
                              cwd=base)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == [1, 2, 2]
        assert (root / "catalog.sqlite").read_bytes() == before  # nothing written
    finally:
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)


def test_a_full_disk_fails_files_with_a_report_and_leaves_the_library_whole(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    import resource
    import signal
    import subprocess
    import sys

    root = tmp_path / "lib"
    with Library(root) as lib:
        _ingest(lib, clips["short"], model="none")

    def full_disk() -> None:  # no file this process writes may grow past 48 KB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))

    names = ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    for n in names[2:]:
        shutil.copy(clips["a" if n == "c.mp4" else "b"], tmp_path / n)
    paths = [clips["a"], clips["b"], tmp_path / "c.mp4", tmp_path / "d.mp4"]
    proc = subprocess.run(
        [sys.executable, "-m", "media_ml.cli", "ingest", *map(str, paths), "--library",
         str(root), "--model", "none", "--workers", "0", "--json", "--no-progress"],
        capture_output=True, text=True, timeout=300, preexec_fn=full_disk)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)  # the report, whatever failed
    assert doc["failed"], "the disk never filled: raise the clip sizes"
    for f in doc["failed"]:
        assert Path(f["path"]).name in f["error"] and "disk" in f["error"]
    assert sorted(Path(e["path"]).name for e in doc["ingested"] + doc["failed"]) == names
    with Library(root) as lib:
        assert lib.catalog.integrity() == "ok"
        held = {Path(v.path).name: v for v in lib.videos()}
        assert set(held) == {"short.mp4", *(Path(e["path"]).name for e in doc["ingested"])}
        kfs = lib.keyframes()
        assert all(Path(k.thumbnail).is_file() for k in kfs)  # every video whole
        assert {v.keyframes for v in held.values()} and all(v.keyframes for v in held.values())
        used = {Path(k.thumbnail).parent.name for k in kfs}
        assert {p.name for p in (root / "thumbs").iterdir()} == used  # nothing half-written
        again = lib.ingest(paths, model="none", workers=0, progress=False)
    assert sorted(Path(e["path"]).name for e in again.ingested) == sorted(
        Path(f["path"]).name for f in doc["failed"])


def test_ingest_leaves_small_changes_in_the_catalog_and_folds_big_ones_into_the_index(
    clips: dict[str, Path], tiny_model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import media_ml.search as search

    root = tmp_path / "lib"

    def saved() -> dict:
        return json.loads((root / "index" / "manifest.json").read_text())

    with Library(root) as lib:
        _ingest(lib, clips["a"], model=TINY, model_config=str(tiny_model_dir))
        first = saved()
        monkeypatch.setattr(search, "COMPACT_MAX", 10_000)
        monkeypatch.setattr(search, "COMPACT_FRACTION", 100.0)  # never, for this ingest
        _ingest(lib, clips["b"])
        assert saved()["files"] == first["files"]  # no index save for a small change
        b = next(v for v in lib.videos() if v.path.endswith("b.mp4"))
        with Library(root, readonly=True) as reader:  # yet every reader finds it
            view = reader.index()
            assert view.pending == len(lib.keyframes(b.id)) > 0
            kf = lib.keyframes(b.id)[0]
            hits = reader.search(keyframe=kf.id, k=100)
            assert {h.keyframe_id for h in hits} | {kf.id} == {k.id for k in lib.keyframes()}
        monkeypatch.setattr(search, "COMPACT_FRACTION", 0.0)
        _ingest(lib, clips["short"])
        now = saved()
        assert now["files"] != first["files"] and now["count"] == len(lib.keyframes())
        assert now["metadata"]["generation_id"] == lib.catalog.state()["generation_id"]
        assert now["trained_for"] == first["trained_for"]  # updated in place, not retrained


def test_processes_creating_one_library_at_once_all_succeed(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "lib"
    code = ("import sys; from media_ml import Library\n"
            "with Library(sys.argv[1]) as lib: print(lib.catalog.library_id)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [e[-500:] for _, e in outs]
    ids = {o.strip() for o, _ in outs}
    assert len(ids) == 1 and len(ids.pop()) == 32  # one library, made once


def test_readers_racing_the_creation_of_a_library_see_no_library_or_a_whole_one(
    tmp_path: Path,
) -> None:
    errors: list[str] = []
    for i in range(10):
        root = tmp_path / f"lib{i}"
        done = threading.Event()
        seen: list[int] = []

        def reader(root: Path = root, done: threading.Event = done,
                   seen: list[int] = seen) -> None:
            while not done.is_set() or not seen:
                try:
                    with Library(root, readonly=True) as lib:
                        seen.append(len(lib.videos()))
                except LibraryError as e:
                    if "not a media-ml library" not in str(e):
                        errors.append(str(e))
                        return

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        with Library(root):
            pass
        done.set()
        for t in threads:
            t.join(30)
        assert seen and set(seen) == {0}
    assert errors == []
