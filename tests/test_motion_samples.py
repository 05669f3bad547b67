"""The motion test sets' generator: its ground truth says what its pixels show."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import cv2
import make_motion_samples as mms
import numpy as np
import pytest

from media_ml.detectors.scoring import Score, score_kinds

SIZE = (320, 180)


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _mad(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean absolute difference over ``valid`` pixels (default: all but a 24 px border)."""
    if valid is None:
        valid = np.zeros(a.shape[:2], bool)
        valid[24:-24, 24:-24] = True
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)
    return float(diff[valid].mean())


def _undo(renderer: mms.Renderer, shot: int, frame: np.ndarray, t_from: int, t_to: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` (shot at ``t_from``) as the camera saw the picture at ``t_to``, and where that
    view has data (pixels the camera at ``t_from`` also saw, 8 px in from any edge)."""
    camera = renderer.camera(shot)
    m = (np.linalg.inv(camera.matrix(t_from)) @ camera.matrix(t_to))[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(frame, m, SIZE, flags=flags, borderMode=cv2.BORDER_REFLECT_101)
    seen = cv2.warpAffine(np.full(frame.shape[:2], 255, np.uint8), m, SIZE, flags=flags,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.erode(seen, np.ones((17, 17), np.uint8)) == 255
    assert valid.mean() > 0.2  # enough overlap to compare
    return out, valid


def _pair(renderer: mms.Renderer, shot: int, frames: list[np.ndarray], t_from: int, t_to: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame ``t_from`` moved to ``t_to``'s view, frame ``t_to``, valid pixels)."""
    moved, valid = _undo(renderer, shot, frames[t_from], t_from, t_to)
    return moved, frames[t_to], valid


# fmt: off
def _tiny_plan() -> mms.MotionPlan:
    return (
        mms.MotionPlan(seed=5, fps=24)
        .shot("coffee", 24, "pan", mms.Event("flash", 12, 1, strength=0.8)).cut()
        .shot("astronaut", 16, "handheld").fade(4, 3, 4)
        .shot("grass", 14, "zoom").dissolve(10)
        .shot("coins", 14, "pan")
    )
# fmt: on


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("motion") / "tiny.mp4"
    mms.write_motion_clip(_tiny_plan(), path, name="tiny", size=SIZE)
    truth = json.loads(path.with_suffix(".json").read_text())
    return path, truth, _decode(path)


def test_written_clip_has_the_planned_frames_and_truth(tiny_clip) -> None:
    _, truth, frames = tiny_clip
    assert len(frames) == truth["frames"] == 24 + 16 + 11 + 14 + 10 + 14
    assert [(t["type"], t["start"], t["end"]) for t in truth["transitions"]] == [
        ("cut", 24, 24), ("fade", 40, 51), ("dissolve", 65, 75)]
    fade = truth["transitions"][1]
    assert (fade["black_start"], fade["black_end"]) == (44, 47)
    assert [s["motion"] for s in truth["shots"]] == ["pan", "handheld", "zoom", "pan"]
    assert truth["distractors"] == [{"type": "flash", "start": 12, "end": 13, "shot": 0}]


def test_frames_of_a_shot_match_once_the_camera_is_undone_but_not_across_the_cut(
    tiny_clip,
) -> None:
    _, truth, frames = tiny_clip
    renderer = mms.Renderer(_tiny_plan(), SIZE)
    cut = truth["transitions"][0]["start"]
    early, late = 2, cut - 1  # both in the panning first shot, flash-free
    moved = _mad(frames[late], frames[early])
    undone = _mad(*_pair(renderer, 0, frames, late, early))
    across = _mad(frames[cut], frames[late])
    assert undone < 6, (undone, moved)
    assert moved > 3 * undone
    assert across > 4 * undone


def test_handheld_camera_rolls_and_zooms_and_undoing_it_aligns(tiny_clip) -> None:
    _, truth, frames = tiny_clip
    renderer = mms.Renderer(_tiny_plan(), SIZE)
    shot = truth["shots"][1]
    a, b = shot["start"] + 1, shot["end"] - 1
    m = np.linalg.inv(renderer.camera(1).matrix(a)) @ renderer.camera(1).matrix(b)
    assert abs(np.linalg.det(m[:2, :2]) - 1) > 1e-4 or abs(m[0, 1]) > 1e-4  # not a translation
    undone = _mad(*_pair(renderer, 1, frames, b, a))
    assert undone < 8 and _mad(frames[b], frames[a]) > 3 * undone


def test_a_fade_reaches_black_and_comes_back(tiny_clip) -> None:
    _, truth, frames = tiny_clip
    fade = truth["transitions"][1]
    for t in range(fade["black_start"], fade["black_end"]):
        assert frames[t].mean() < 3 and np.percentile(frames[t], 99) < 12
    assert frames[fade["start"] - 1].mean() > 40 and frames[fade["end"]].mean() > 40
    ramp = [frames[t].mean() for t in range(fade["start"] - 1, fade["black_start"] + 1)]
    assert all(x > y for x, y in zip(ramp, ramp[1:], strict=False))


def test_a_dissolve_between_moving_shots_blends_where_both_cameras_are_then() -> None:
    renderer = mms.Renderer(_tiny_plan(), SIZE)
    lay = renderer.lay
    start, end = lay.joins[2].start, lay.joins[2].end
    t = start + 4
    p = 5 / 11
    now = cv2.addWeighted(renderer.camera(2).frame(t), 1 - p, renderer.camera(3).frame(t), p, 0)
    ends = cv2.addWeighted(renderer.camera(2).frame(start - 1), 1 - p,
                           renderer.camera(3).frame(end), p, 0)
    frame = renderer.clean_frame(t)
    assert np.array_equal(frame, now)
    assert _mad(frame, ends) > 5  # the dissolve's frames do not lie between its ends


def test_a_flash_is_the_same_shot_before_and_after(tiny_clip) -> None:
    _, truth, frames = tiny_clip
    renderer = mms.Renderer(_tiny_plan(), SIZE)
    flash = truth["distractors"][0]
    before, at, after = flash["start"] - 1, flash["start"], flash["end"]
    assert frames[at].mean() > frames[before].mean() + 60
    assert _mad(*_pair(renderer, 0, frames, after, before)) < 6


def test_the_sets_share_no_photo_bikes_shot_or_seed() -> None:
    tune, ev = mms.SETS["tune"], mms.SETS["eval"]
    assert not set(tune.photos) & set(ev.photos)
    assert not set(tune.bikes) & set(ev.bikes)
    assert tune.seed != ev.seed
    for spec in (tune, ev):
        for _, plan in mms.plan_set(spec):
            for shot in plan.shots:
                if shot.source == mms.BIKES:
                    assert shot.bikes in spec.bikes
                else:
                    assert shot.source in spec.photos


@pytest.mark.parametrize("set_name", list(mms.SETS))
def test_every_motion_meets_every_transition_and_truth_tiles_each_clip(set_name: str) -> None:
    seen: set[tuple[str, str, str]] = set()
    for name, plan in mms.plan_set(mms.SETS[set_name]):
        truth = mms.ground_truth(mms.layout(plan), name=name, size=mms.SIZE, set_name=set_name)
        spans = sorted([(s["start"], s["end"]) for s in truth["shots"]]
                       + [(t["start"], t["end"]) for t in truth["transitions"]
                          if t["end"] > t["start"]])
        assert spans[0][0] == 0 and spans[-1][1] == truth["frames"]
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        for t in truth["transitions"]:
            seen |= {("out", t["from"], t["type"]), ("in", t["to"], t["type"])}
            if t["from"] == t["to"]:
                seen.add(("both", t["from"], t["type"]))
        for d in truth["distractors"]:
            shot = truth["shots"][d["shot"]]
            assert shot["start"] <= d["start"] < d["end"] <= shot["end"]
            if d["type"] in ("flash", "whip", "occlusion"):
                assert d["start"] - shot["start"] >= mms.EVENT_MARGIN
                assert shot["end"] - d["end"] >= mms.EVENT_MARGIN
    for m in mms.MOTIONS:
        for t in mms.TRANSITIONS:
            assert ("out", m, t) in seen and ("in", m, t) in seen, (m, t)
    for m in mms.Coverage.BOTH:
        for t in mms.TRANSITIONS:
            assert ("both", m, t) in seen, (m, t)


def test_build_motion_sets_reuses_clips_whose_plan_is_unchanged(tmp_path: Path) -> None:
    spec = dataclasses.replace(mms.SETS["eval"], clips=1, seconds=(2.5, 2.5), cover=False)
    built = mms.build_motion_sets(tmp_path, sets=("eval",), specs={"eval": spec})
    (clip,) = built["eval"]
    assert len(_decode(clip)) == json.loads(clip.with_suffix(".json").read_text())["frames"]
    manifest = json.loads((tmp_path / "eval" / "set.json").read_text())
    assert manifest["photos"] == list(spec.photos) and manifest["clips"] == [clip.name]
    stamp = clip.stat().st_mtime_ns
    mms.build_motion_sets(tmp_path, sets=("eval",), specs={"eval": spec})
    assert clip.stat().st_mtime_ns == stamp


def test_kind_scores_split_by_transition_motion_and_distractor() -> None:
    truth = {
        "transitions": [
            {"type": "cut", "start": 30, "end": 30, "from": "pan", "to": "zoom"},
            {"type": "dissolve", "start": 60, "end": 72, "from": "zoom", "to": "whip"},
        ],
        "distractors": [{"type": "flash", "start": 45, "end": 46, "shot": 1}],
        "shots": [{"start": 0, "end": 30, "motion": "pan"}, {"start": 30, "end": 60,
                  "motion": "zoom"}, {"start": 72, "end": 100, "motion": "whip"}],
    }
    scores = score_kinds([31, 46, 90], truth)
    assert scores.overall.tp == 1 and scores.overall.fp == 2 and scores.overall.fn == 1
    assert scores.by_transition["cut"].tp == 1 and scores.by_transition["dissolve"].fn == 1
    assert scores.false_positives == {"flash": 1, "shot:whip": 1}
    assert scores.by_motion["zoom"].tp == 1 and scores.by_motion["zoom"].fn == 1
    assert scores.by_motion["zoom"].fp == 1 and scores.by_motion["whip"].fp == 1
    total = scores + scores
    assert total.overall.tp == 2 and total.false_positives["flash"] == 2
    # Told what each predicted boundary is, a false positive counts against its kind.
    said = score_kinds([31, 46, 90], truth, kinds=["cut", "cut", "dissolve"])
    assert said.by_transition["cut"] == Score(1, 1, 0)
    assert said.by_transition["dissolve"] == Score(0, 1, 1)
    assert said.by_transition["dissolve"].f1 == 0.0 and said.by_transition["cut"].f1 == 2 / 3
    assert said.overall == scores.overall
    with pytest.raises(ValueError, match="2 kinds for 3"):
        score_kinds([31, 46, 90], truth, kinds=["cut", "cut"])


def test_kind_scores_read_other_generators_keys() -> None:
    """Another generator's JSON may use ``change`` for something else (a lighting mode)."""
    truth = {
        "transitions": [{"type": "cut", "start": 30, "end": 30}],
        "distractors": [{"type": "lighting", "start": 40, "end": 60, "shot": 1,
                         "change": "sudden"}],
        "shots": [{"start": 0, "end": 30}, {"start": 30, "end": 80}],
    }
    scores = score_kinds([30, 41], truth)
    assert scores.overall.tp == 1 and scores.false_positives == {"lighting": 1}
