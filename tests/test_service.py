"""The HTTP service on a real library: FastAPI's TestClient drives the real app (no mocks)."""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

from media_ml.errors import UsageError
from media_ml.library import Library

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parent.parent


def _client(root: Path, **config: object):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from media_ml.service import ServiceConfig, create_app

    cfg = ServiceConfig(library=root, token=TOKEN, **config)  # type: ignore[arg-type]
    return TestClient(create_app(cfg), base_url="http://127.0.0.1")


@pytest.fixture
def client(lib_root: Path):  # type: ignore[no-untyped-def]
    with _client(lib_root) as c:
        yield c


def _png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` (the data is a single tiny row: a
    decoder that trusted the header would allocate the declared size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b""))


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    return buf.getvalue()


# -- reads -------------------------------------------------------------------------------------

def test_health_schema_docs_and_the_page(client) -> None:  # type: ignore[no-untyped-def]
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["videos"] == 2 and h["model"] == "tiny-test:untrained"
    schema = client.get("/openapi.json").json()
    assert "/api/search" in schema["paths"] and "/api/choose" in schema["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "media-ml" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/app.py").status_code == 404


def test_videos_shots_keyframes_and_images_by_id(client, lib_root: Path) -> None:  # type: ignore[no-untyped-def]
    vids = client.get("/api/videos").json()["videos"]
    assert [v["id"] for v in vids] == [1, 2]
    with Library(lib_root, readonly=True) as lib:
        expected = lib.videos()[0].as_json()
        kf = lib.keyframes(1)[0]
        shots = [s.as_json() for s in lib.shots(1)]
    one = client.get("/api/videos/1").json()
    assert {k: one[k] for k in expected} == expected
    assert client.get("/api/videos/1/shots").json()["shots"] == shots
    kfs = client.get("/api/videos/1/keyframes").json()["keyframes"]
    assert kfs[0]["id"] == kf.id and kfs[0]["thumbnail"] == f"/api/keyframes/{kf.id}/thumbnail.jpg"
    assert "/" not in kfs[0]["thumbnail"].removeprefix("/api/keyframes/").split("/")[0]
    img = client.get(kfs[0]["thumbnail"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content == Path(kf.thumbnail).read_bytes()
    for bad, status in (("/api/videos/999", 404), ("/api/videos/0", 422),
                        ("/api/videos/abc", 422), (f"/api/videos/{2**70}", 422),
                        ("/api/keyframes/999999/thumbnail.jpg", 404),
                        ("/api/candidates/999999/crop.jpg", 404)):
        r = client.get(bad)
        assert r.status_code == status, bad
        assert set(r.json()) == {"error", "exit_code", "status"} and "Traceback" not in r.text


def test_search_by_text_keyframe_and_image_with_paging_and_filters(client) -> None:  # type: ignore[no-untyped-def]
    whole = client.get("/api/search", params={"text": "a face", "k": 8}).json()["hits"]
    assert len(whole) == 8
    first = client.get("/api/search", params={"text": "a face", "k": 4}).json()
    second = client.get("/api/search", params={"text": "a face", "k": 4, "offset": 4}).json()
    assert [h["keyframe_id"] for h in first["hits"] + second["hits"]] == [
        h["keyframe_id"] for h in whole]
    assert first["more"] is True
    like = client.get("/api/search", params={"keyframe": whole[0]["keyframe_id"], "k": 5}).json()
    assert whole[0]["keyframe_id"] not in [h["keyframe_id"] for h in like["hits"]]
    faces = client.get("/api/search", params={"text": "a face", "k": 20, "faces_min": 1}).json()
    assert faces["hits"] and all(h["signals"]["faces"] >= 1 for h in faces["hits"])
    only2 = client.get("/api/search", params={"text": "x", "k": 20, "video": 2}).json()
    assert {h["video_id"] for h in only2["hits"]} == {2}
    thumb = client.get(whole[0]["thumbnail"]).content
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(thumb)).convert("RGB"))
    by_image = client.post("/api/search/image", params={"k": 3}, content=_jpeg(rgb),
                           headers={"Content-Type": "image/jpeg"}).json()
    assert by_image["hits"][0]["keyframe_id"] == whole[0]["keyframe_id"]
    browse = client.get("/api/keyframes", params={"k": 5, "transition": "cut"}).json()
    assert browse["keyframes"] and len(browse["keyframes"]) <= 5
    for params in ({"text": "x", "keyframe": 1}, {}, {"text": "x", "k": 0},
                   {"text": "x", "k": 201}, {"text": "x", "offset": 5000},
                   {"text": "x", "sharpness_min": "nan"}, {"text": "x", "transition": "zoom"},
                   {"text": "y" * 2001}):
        r = client.get("/api/search", params=params)
        assert r.status_code == 422, params


def test_the_model_is_loaded_before_the_first_query(lib_root: Path) -> None:
    from media_ml.extractors.clip import _cached_embedder

    _cached_embedder.cache_clear()
    with _client(lib_root):
        assert _cached_embedder.cache_info().currsize == 1  # loaded at start, not at a query


# -- security ----------------------------------------------------------------------------------

def test_every_write_needs_the_token(client) -> None:  # type: ignore[no-untyped-def]
    body = {"candidate_id": 1, "verdict": "accept"}
    client.get("/api/videos/1/suggest", params={"context": "web-row"})
    assert client.post("/api/feedback", json=body).status_code == 401
    assert client.post("/api/feedback", json=body,
                       headers={"Authorization": "Bearer wrong-token-000000"}).status_code == 401
    client.cookies.set("media_ml_token", TOKEN)  # a cookie alone never authorises a write
    assert client.post("/api/feedback", json=body).status_code == 401
    client.cookies.clear()
    assert client.post("/api/choose", json={"video_id": 1, "context": "web-row"}
                       ).status_code == 401
    assert client.post("/api/feedback", json=body, headers=AUTH).status_code == 200


def test_off_loopback_everything_needs_the_token(lib_root: Path) -> None:
    from media_ml.service import ServiceConfig

    with pytest.raises(UsageError, match="needs a token"):
        ServiceConfig(library=lib_root, host="0.0.0.0")
    with pytest.raises(UsageError, match="token"):
        ServiceConfig(library=lib_root, host="0.0.0.0", token="short")
    with _client(lib_root, host="0.0.0.0") as c:
        assert c.get("/api/videos").status_code == 401
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/api/keyframes/1/thumbnail.jpg").status_code == 401
        assert c.get("/api/videos", headers=AUTH).status_code == 200
        c.cookies.set("media_ml_token", TOKEN)  # the page's images send the cookie
        assert c.get("/api/keyframes/1/thumbnail.jpg").status_code == 200
        assert c.get("/").status_code == 200  # the page itself, which then asks for the token


def test_uploads_are_capped_in_bytes_and_pixels(lib_root: Path) -> None:
    with _client(lib_root, max_upload_bytes=200_000, max_upload_pixels=1_000_000) as c:
        big = c.post("/api/search/image", content=b"\xff" * 300_000, headers=AUTH)
        assert big.status_code == 413 and "larger than" in big.json()["error"]
        bomb = c.post("/api/search/image", content=_png(100_000, 100_000), headers=AUTH)
        assert bomb.status_code == 400 and "pixels" in bomb.json()["error"]
        junk = c.post("/api/search/image", content=b"not an image", headers=AUTH)
        assert junk.status_code == 400 and "not an image" in junk.json()["error"]
        empty = c.post("/api/search/image", content=b"", headers=AUTH)
        assert empty.status_code == 400
        huge_json = c.post("/api/feedback", content=b"{" + b" " * 70_000 + b"}",
                           headers={**AUTH, "Content-Type": "application/json"})
        assert huge_json.status_code == 413


def test_cors_is_off_unless_configured(lib_root: Path) -> None:
    pre = {"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET"}
    with _client(lib_root) as c:
        r = c.get("/api/videos", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in r.headers
    with _client(lib_root, cors_origins=("http://tools.example",)) as c:
        r = c.options("/api/videos", headers={**pre, "Origin": "http://tools.example"})
        assert r.headers.get("access-control-allow-origin") == "http://tools.example"
        r = c.get("/api/videos", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in r.headers


# -- suggest, judge, decide --------------------------------------------------------------------

def test_suggest_feedback_shows_up_at_once(client) -> None:  # type: ignore[no-untyped-def]
    s = client.get("/api/videos/2/suggest", params={"context": "mobile-boxart", "k": 5}).json()
    assert s["aspect"] == [2, 3] and s["candidates"]
    first, second = s["candidates"][0], s["candidates"][1]
    crop = client.get(first["image"])
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    from PIL import Image

    w, h = Image.open(io.BytesIO(crop.content)).size
    assert abs(w / h - 2 / 3) < 0.05  # the preview has the context's aspect ratio
    ok = client.post("/api/feedback", headers=AUTH,
                     json={"candidate_id": first["candidate_id"], "verdict": "accept",
                           "note": "strong face"})
    assert ok.status_code == 200 and ok.json()["verdict"] == "accept"
    client.post("/api/feedback", headers=AUTH,
                json={"candidate_id": second["candidate_id"], "verdict": "reject"})
    again = client.get("/api/videos/2/suggest", params={"context": "mobile-boxart"}).json()
    by_id = {c["candidate_id"]: c for c in again["candidates"]}
    assert by_id[first["candidate_id"]]["feedback"] == "accept"
    assert second["candidate_id"] not in by_id and second["candidate_id"] in again["rejected"]
    verdicts = client.get("/api/verdicts", params={"video": 2}).json()["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["accept", "reject"]
    for bad in ({"candidate_id": 0, "verdict": "accept"}, {"candidate_id": 1, "verdict": "meh"},
                {"verdict": "accept"}, {"candidate_id": "1; drop", "verdict": "accept"}):
        assert client.post("/api/feedback", headers=AUTH, json=bad).status_code in (400, 422)
    bad_json = client.post("/api/feedback", headers={**AUTH, "Content-Type": "application/json"},
                           content=b"{not json")
    assert bad_json.status_code == 400
    assert client.get("/api/videos/2/suggest", params={"context": "nope"}).status_code == 400


def test_a_new_suggestion_waiting_for_the_write_lock_stalls_no_other_request(
        client, lib_root: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Another process holds the catalog's write lock (an ingest, say) while the page asks for
    # suggestions no one asked for before, which registers candidates: that request waits for
    # the lock, and every other request is still answered meanwhile.
    from media_ml.catalog import Catalog

    db = lib_root / "catalog.sqlite"
    holder = sqlite3.connect(db, isolation_level=None)
    assert holder.execute("SELECT COUNT(*) FROM candidates WHERE context='square'"
                          ).fetchone()[0] == 0
    writing = threading.Event()
    register = Catalog.register_candidates

    def registering(self, rows):  # type: ignore[no-untyped-def]
        writing.set()  # the seam: the request has reached its write
        return register(self, rows)

    monkeypatch.setattr(Catalog, "register_candidates", registering)
    answered: dict[str, object] = {}

    def ask() -> None:
        answered["suggest"] = client.get("/api/videos/1/suggest", params={"context": "square"})

    holder.execute("BEGIN IMMEDIATE")
    asker = threading.Thread(target=ask)
    try:
        asker.start()
        assert writing.wait(60)
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/videos").status_code == 200
        assert "suggest" not in answered  # still waiting for the lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        asker.join(60)
    r = answered["suggest"]
    assert r.status_code == 200 and r.json()["candidates"]  # type: ignore[attr-defined]


def test_choose_reward_and_metrics(client) -> None:  # type: ignore[no-untyped-def]
    d = client.post("/api/choose", headers=AUTH,
                    json={"video_id": 1, "context": "web-row",
                          "member": {"device": "tv", "hour": 21}}).json()
    assert {"decision_id", "candidate_id", "propensity", "ranking", "policy", "explored"} <= set(d)
    assert d["candidate"]["image"] == f"/api/candidates/{d['candidate_id']}/crop.jpg"
    r = client.post("/api/reward", headers=AUTH, json={"decision_id": d["decision_id"],
                                                       "value": 1})
    assert r.status_code == 200 and r.json()["reward"] == 1.0
    assert client.post("/api/reward", headers=AUTH,
                       json={"decision_id": 999, "value": 1}).status_code == 404
    nan = client.post("/api/reward", headers={**AUTH, "Content-Type": "application/json"},
                      content=b'{"decision_id": 1, "value": NaN}')
    assert nan.status_code == 422
    bad_member = client.post("/api/choose", headers=AUTH,
                             json={"video_id": 1, "context": "web-row",
                                   "member": {"hour": [1]}})
    assert bad_member.status_code == 400 and "member.hour" in bad_member.json()["error"]
    log = client.get("/api/decisions").json()
    assert log["stats"]["decisions"] == 1 and log["decisions"][0]["reward"] == 1.0
    text = client.get("/metrics").text
    assert 'media_ml_requests_total{method="POST",route="/api/choose",status="200"} 1.0' in text
    assert "media_ml_request_seconds_bucket" in text
    assert "media_ml_logged_decisions 1.0" in text and "media_ml_logged_rewards 1.0" in text
    assert 'media_ml_decisions_total{mode="policy"} 1.0' in text
    vectors = [line for line in text.splitlines() if line.startswith("media_ml_index_vectors ")]
    assert vectors and float(vectors[0].split()[1]) > 0


def test_an_expired_decision_is_a_conflict(client, lib_root: Path) -> None:  # type: ignore[no-untyped-def]
    d = client.post("/api/choose", headers=AUTH,
                    json={"video_id": 1, "context": "web-row"}).json()
    con = sqlite3.connect(lib_root / "decisions.sqlite")
    con.execute("UPDATE decisions SET expires_at = 0")
    con.commit()
    con.close()
    r = client.post("/api/reward", headers=AUTH, json={"decision_id": d["decision_id"],
                                                       "value": 1})
    assert r.status_code == 409 and "expired" in r.json()["error"]


# -- serving beside a writer -------------------------------------------------------------------

@pytest.mark.slow
def test_serving_goes_on_while_ingest_writes_and_sees_the_new_generation(
        lib_root: Path, samples_dir: Path, tiny_model_dir: Path) -> None:
    with _client(lib_root) as c:
        before = c.get("/api/health").json()
        errors: list[str] = []
        answered = [0]
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                for path, params in (("/api/search", {"text": "a bike", "k": 5}),
                                     ("/api/videos", {}), ("/api/keyframes", {"k": 10})):
                    r = c.get(path, params=params)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:200]}")
                    answered[0] += 1

        t = threading.Thread(target=loop)
        t.start()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "media_ml.cli", "ingest", str(samples_dir / "bikes.mp4"),
                 "--library", str(lib_root), "--model", "tiny-test:untrained", "--model-config",
                 str(tiny_model_dir), "--workers", "0", "--no-progress", "--wait", "--json"],
                capture_output=True, text=True, timeout=300)
        finally:
            stop.set()
            t.join()
        assert proc.returncode == 0, proc.stderr
        assert not errors and answered[0] > 3
        after = c.get("/api/health").json()  # no restart: the new generation is served
        assert after["videos"] == before["videos"] + 1
        assert after["generation"] > before["generation"]
        hits = c.get("/api/search", params={"text": "a bike", "k": 50, "video": 3}).json()
        assert hits["hits"] and {h["video_id"] for h in hits["hits"]} == {3}


@pytest.mark.slow
def test_query_embedding_goes_to_a_gpu_worker_with_a_scheduler(lib_root: Path) -> None:
    from distributed import get_task_stream
    from helpers import cluster_with_gpu_worker

    with cluster_with_gpu_worker() as (watcher, gpu_addr):
        with get_task_stream(watcher) as stream, \
                _client(lib_root, scheduler=watcher.scheduler.address) as c:
            r = c.get("/api/search", params={"text": "a face", "k": 3})
            assert r.status_code == 200 and len(r.json()["hits"]) == 3
            assert c.get("/api/search", params={"keyframe": 1, "k": 3}).status_code == 200
    ran = {t["worker"] for t in stream.data if str(t["key"]).startswith("embed_query_task")}
    assert ran == {gpu_addr}


def test_serve_command_refuses_bad_settings(lib_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    from media_ml.cli import main

    assert main(["serve", "--library", str(tmp_path / "nothing"), "--json"]) == 2
    assert "not a media-ml library" in json.loads(capsys.readouterr().out)["error"]
    assert main(["serve", "--library", str(lib_root), "--host", "0.0.0.0", "--json"]) == 2
    assert "needs a token" in json.loads(capsys.readouterr().out)["error"]
    assert main(["serve", "--library", str(lib_root), "--port", "70000"]) == 2
    assert main(["serve", "--library", str(lib_root), "--cors-origin", "ftp://x",
                 "--json"]) == 2
    assert "cors" in json.loads(capsys.readouterr().out)["error"].lower()


def test_a_real_uvicorn_server_answers(lib_root: Path) -> None:
    """The same app under uvicorn on a free port (what `media-ml serve` runs)."""
    import urllib.request

    from helpers import free_port, uvicorn_server

    from media_ml.service import ServiceConfig, create_app

    port = free_port()
    app = create_app(ServiceConfig(library=lib_root, port=port, token=TOKEN))
    with uvicorn_server(app, port) as url, \
            urllib.request.urlopen(f"{url}api/health", timeout=10) as r:
        assert json.loads(r.read())["status"] == "ok"


def test_a_learner_in_another_process_is_picked_up_without_restart(client, lib_root: Path
                                                                  ) -> None:  # type: ignore[no-untyped-def]
    for i in range(20):
        d = client.post("/api/choose", headers=AUTH,
                        json={"video_id": 1, "context": "web-row",
                              "member": {"device": ["tv", "web"][i % 2]}}).json()
        assert d["policy_version"] == 0
        client.post("/api/reward", headers=AUTH, json={"decision_id": d["decision_id"],
                                                       "value": i % 2})
    proc = subprocess.run([sys.executable, "-m", "media_ml.cli", "learn", "--library",
                           str(lib_root), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 1
    d = client.post("/api/choose", headers=AUTH,
                    json={"video_id": 1, "context": "web-row", "member": {"device": "tv"}}).json()
    assert d["policy_version"] == 1 and d["mode"] == "policy"
