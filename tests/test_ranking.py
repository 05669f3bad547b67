"""Artwork suggestions: contexts, crops, filters, scoring, diversity and editor feedback."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from media_ml.cli import main as cli_main
from media_ml.errors import UsageError
from media_ml.library import Library
from media_ml.ranking.crops import best_crop, cuts_a_face
from media_ml.ranking.suggest import mmr

# -- crops ------------------------------------------------------------------------------------


@pytest.mark.parametrize("aspect", [(16, 9), (2, 3), (1, 1), (4, 5)])
@pytest.mark.parametrize("size", [(1280, 720), (641, 359), (720, 1280)])
def test_crops_have_the_exact_aspect_and_stay_inside(
    aspect: tuple[int, int], size: tuple[int, int]
) -> None:
    w, h = size
    face = (w * 0.6, h * 0.3, w * 0.1, w * 0.1)
    crop = best_crop(w, h, aspect, (10, 10), [face], (w * 0.5, h * 0.2, w * 0.3, h * 0.5))
    assert crop is not None
    assert crop.w * aspect[1] == crop.h * aspect[0]
    assert 0 <= crop.x and crop.x + crop.w <= w and 0 <= crop.y and crop.y + crop.h <= h
    assert not cuts_a_face([face], crop.x, crop.y, crop.w, crop.h)


def test_crop_keeps_an_off_centre_face_whole_and_near_a_third() -> None:
    face = (1000.0, 200.0, 160.0, 160.0)  # right side of a 1280×720 frame
    crop = best_crop(1280, 720, (2, 3), (240, 360), [face], (900, 150, 300, 400))
    assert crop is not None
    assert crop.x <= 1000 and crop.x + crop.w >= 1160
    assert crop.face_area > 0 and crop.composition > 0.5


def test_crop_is_rejected_when_it_would_upscale_or_cut_a_face() -> None:
    assert best_crop(640, 360, (16, 9), (1280, 720), [], (0, 0, 640, 360)) is None
    huge_face = (100.0, 0.0, 500.0, 360.0)  # wider than any 2:3 crop of a 360-high frame
    assert best_crop(640, 360, (2, 3), (100, 150), [huge_face], (0, 0, 640, 360)) is None


def test_mmr_prefers_different_pictures_and_one_per_shot() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 16))
    vecs = np.stack([base[0], base[0] + 0.01, base[1], base[2]])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    scores = np.array([0.9, 0.89, 0.5, 0.4], np.float32)
    picked = mmr(scores, vecs, [0, 1, 2, 3], 3, diversity=0.3, duplicate=0.8, per_shot=1)
    assert picked[0] == 0 and 1 not in picked and set(picked) == {0, 2, 3}
    same_shot = mmr(scores, None, [0, 0, 1, 1], 4, 0.3, 0.8, per_shot=1)
    assert same_shot == [0, 2]


# -- suggest on a library ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def faces_library(samples_dir: Path, tiny_model_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sugg")
    with Library(root) as lib:
        lib.ingest([samples_dir / "faces.mp4"], model="tiny-test:untrained",
                   model_config=str(tiny_model_dir), workers=2, progress=False)
    truth = json.loads((samples_dir / "faces.json").read_text())
    return root, truth


def _quality_of(truth: dict, frame: int) -> str:
    for s in truth["shots"]:
        if s["start"] <= frame < s["end"]:
            return str(s["quality"])
    return "transition"


def test_suggest_filters_bad_frames_and_explains_scores(faces_library: tuple[Path, dict]) -> None:
    root, truth = faces_library
    with Library(root) as lib:
        sugg = lib.suggest(1, "square", k=10)
    assert sugg.candidates
    assert {_quality_of(truth, c.frame) for c in sugg.candidates} == {"good"}
    assert sugg.filtered.get("blurred", 0) >= 1
    assert sugg.filtered.get("black or very dark", 0) >= 1
    for c in sugg.candidates:
        assert sum(c.contributions.values()) == pytest.approx(c.score, abs=1e-3)
        assert c.crop["w"] == c.crop["h"] and c.reasons
    assert [c.rank for c in sugg.candidates] == list(range(1, len(sugg.candidates) + 1))
    assert len({c.shot_index for c in sugg.candidates}) == len(sugg.candidates)


def test_suggest_cli_writes_crops_and_contact_sheet(
    faces_library: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = faces_library
    out = tmp_path / "out"
    assert cli_main(["suggest", "--library", str(root), "--video", "1", "--context",
                     "mobile-boxart", "-k", "4", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["context"] == "mobile-boxart" and doc["video_id"] == 1
    c = doc["candidates"][0]
    assert {"candidate_id", "keyframe_id", "shot_index", "time_s", "crop", "score",
            "contributions", "image"} <= set(c)
    img = cv2.imread(c["image"])
    assert img.shape[:2] == (c["crop"]["h"], c["crop"]["w"])
    assert img.shape[0] * 2 == img.shape[1] * 3  # 2:3
    assert (out / "index.html").read_text().count("<img") == len(doc["candidates"])
    assert cv2.imread(str(out / "sheet.png")) is not None


def test_feedback_is_recorded_and_rejected_candidates_are_not_proposed_again(
    faces_library: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = faces_library
    with Library(root) as lib:
        first = lib.suggest(1, "web-row", k=5)
        assert lib.suggested(1, "web-row", k=4) is None  # another question
    top, second = first[0], first[1]
    assert cli_main(["feedback", "--library", str(root), "--candidate",
                     str(top.candidate_id), "--reject", "--note", "eyes closed", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["context"] == "web-row" and rec["rank"] == 1 and rec["verdict"] == "reject"
    assert cli_main(["feedback", "--library", str(root), "--candidate",
                     str(second.candidate_id), "--accept"]) == 0
    with Library(root) as lib:
        again = lib.suggest(1, "web-row", k=5)
        other = lib.suggest(1, "square", k=10)
        row = next((v.verdict, v.note, v.rank, v.context) for v in lib.verdicts(1)
                   if v.candidate_id == top.candidate_id)
    assert top.candidate_id not in [c.candidate_id for c in again.candidates]
    assert again.rejected == [top.candidate_id]
    assert {c.candidate_id: c.feedback for c in again.candidates}[second.candidate_id] == "accept"
    assert row == ("reject", "eyes closed", 1, "web-row")
    assert top.keyframe_id in [c.keyframe_id for c in other]  # other contexts unaffected


def test_a_remembered_suggestion_is_forgotten_when_an_editor_judges(
    faces_library: tuple[Path, dict]
) -> None:
    root, _ = faces_library
    with Library(root) as lib:
        first = lib.suggest(1, "square", k=5)
        assert lib.suggested(1, "square", k=5) is first
        with Library(root, readonly=True) as reader:  # another thread's library, say
            assert reader.suggested(1, "square", k=5) is first
        lib.feedback(first[0].candidate_id, "reject")
        assert lib.suggested(1, "square", k=5) is None
        assert lib.suggested(1, "tv-preview", k=7) is None  # never asked
        again = lib.suggest(1, "square", k=5)
        assert first[0].candidate_id not in [c.candidate_id for c in again.candidates]


def test_suggest_bad_input(faces_library: tuple[Path, dict]) -> None:
    root, _ = faces_library
    with Library(root) as lib:
        with pytest.raises(UsageError, match="unknown video"):
            lib.suggest(99, "square")
        with pytest.raises(UsageError, match="unknown context"):
            lib.suggest(1, "poster")
        with pytest.raises(UsageError, match="k must be"):
            lib.suggest(1, "square", k=0)
        with pytest.raises(UsageError, match="unknown candidate"):
            lib.feedback(424242, "accept")
        none = lib.suggest(1, "tv-billboard")
    assert none.candidates == [] and any("1280x720" in r for r in none.filtered)
    assert cli_main(["suggest", "--library", str(root), "--video", "1", "--context", "x"]) == 2
