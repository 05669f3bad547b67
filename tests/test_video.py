"""Probing and segmented decoding with PyAV (real files written by the tests)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from media import cut_clip_frames, write_video

from media_ml.errors import VideoOpenError
from media_ml.extractors import video
from media_ml.extractors.seek import Seeker
from media_ml.extractors.shots import detect_transitions
from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots
from media_ml.types import Segment


def test_probe_reports_frames_fps_and_keyframes(cuts_clip: tuple[Path, list[int]]) -> None:
    path, _ = cuts_clip
    info = video.probe(path)
    assert info.frames == 170
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(170 / 25, abs=1e-6)
    assert (info.width, info.height) == (320, 180)
    assert not info.vfr
    assert info.keyframes.tolist() == list(range(0, 170, 10))  # gop=10, no scene-cut IDRs


def test_segments_cover_the_timeline_once_and_start_at_keyframes(
    cuts_clip: tuple[Path, list[int]],
) -> None:
    info = video.probe(cuts_clip[0])
    segs = video.plan_segments(info, segment_s=0.5)
    assert len(segs) > 5
    assert segs[0].own_start == 0 and segs[-1].own_end == info.frames
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.own_end == b.own_start
    assert all(s.first_frame in set(info.keyframes.tolist()) for s in segs)


def test_segmented_decoding_yields_the_same_frames_as_one_pass(
    cuts_clip: tuple[Path, list[int]],
) -> None:
    info = video.probe(cuts_clip[0])
    whole = video.plan_segments(info, segment_s=1000)
    assert len(whole) == 1
    one = {i: video.analysis_grid(f) for i, f in video.iter_segment_frames(whole[0])}
    parts: dict[int, np.ndarray] = {}
    for seg in video.plan_segments(info, segment_s=0.4):
        for i, f in video.iter_segment_frames(seg):
            if seg.own_start <= i < seg.own_end:
                assert i not in parts
                parts[i] = video.analysis_grid(f)
    assert sorted(parts) == sorted(one) == list(range(info.frames))
    assert all(np.array_equal(parts[i], one[i]) for i in one)


def test_many_segments_give_the_same_shots_as_one_pass(cuts_clip: tuple[Path, list[int]]) -> None:
    info = video.probe(cuts_clip[0])
    one, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=1000))
    many, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=0.4))
    assert len(video.plan_segments(info, 0.4)) > 5
    assert one == many
    assert [s.start_frame for s in one[1:]] == cuts_clip[1]


def test_variable_frame_rate_times_come_from_timestamps(tmp_path: Path) -> None:
    frames, cuts = cut_clip_frames([20, 20, 20], (160, 96))
    # Irregular timing: 40 ms, then 80 ms per frame after frame 25.
    pts = [i * 40 if i < 25 else 25 * 40 + (i - 25) * 80 for i in range(len(frames))]
    path = write_video(tmp_path / "vfr.mkv", frames, pts=pts, time_base=Fraction(1, 1000))
    info = video.probe(path)
    assert info.vfr
    shots, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings())
    assert [s.start_frame for s in shots[1:]] == cuts
    assert [round(s.start_s, 3) for s in shots[1:]] == [pts[c] / 1000 for c in cuts]


def test_nonzero_start_time_gives_times_from_the_first_frame(tmp_path: Path) -> None:
    frames, cuts = cut_clip_frames([25, 25], (160, 96))
    # Timestamps start 5 s in, as in a clip cut out of a broadcast stream.
    path = write_video(tmp_path / "offset.ts", frames, pts=[125 + i for i in range(50)],
                       time_base=Fraction(1, 25))
    info = video.probe(path)
    assert info.start_time_s == pytest.approx(5.0)
    shots, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings())
    assert shots[0].start_s == 0.0
    assert shots[1].start_frame == cuts[0]
    assert shots[1].start_s == pytest.approx(cuts[0] / 25, abs=1e-3)


@pytest.mark.parametrize("ccw", [90, 270])
def test_rotation_metadata_gives_display_orientation(tmp_path: Path, ccw: int) -> None:
    # The display matrix says "turn the stored picture ``ccw`` degrees counter-clockwise" (PyAV's
    # convention for set_display_rotation and frame.rotation; ffmpeg's autorotate applies
    # transpose=cclock for 90). np.rot90 turns counter-clockwise too, so a player shows
    # rot90(picture, ccw // 90); the other quarter turn is a different picture altogether.
    frames, _ = cut_clip_frames([10], (160, 96))
    path = write_video(tmp_path / "rot.mp4", frames, rotation=ccw)
    info = video.probe(path)
    assert info.rotation == ccw
    assert (info.width, info.height) == (96, 160)
    seg = video.plan_segments(info)[0]
    _, frame = next(video.iter_segment_frames(seg))
    shown = video.frame_to_rgb(frame, info.rotation).astype(np.float32)
    assert shown.shape == (160, 96, 3)
    assert np.abs(shown - np.rot90(frames[0], ccw // 90)).mean() < 8  # encoding noise only
    assert np.abs(shown - np.rot90(frames[0], -ccw // 90)).mean() > 40


@pytest.mark.parametrize("codec,pix_fmt", [("libx264", "yuv444p"), ("ffv1", "yuv420p10le"),
                                           ("ffv1", "bgr0")])
def test_odd_sizes_and_other_pixel_formats_are_analysed(
    tmp_path: Path, codec: str, pix_fmt: str
) -> None:
    frames, cuts = cut_clip_frames([15, 15], (161, 91))
    frames = [f[:91, :161] for f in frames]
    path = write_video(tmp_path / f"odd_{pix_fmt}.mkv", frames, codec=codec, pix_fmt=pix_fmt)
    info = video.probe(path)
    assert (info.width, info.height) == (161, 91)
    seg = video.plan_segments(info)[0]
    grids = np.stack([video.analysis_grid(f) for _, f in video.iter_segment_frames(seg)])
    assert grids.shape == (30, video.GRID_SIZE)
    assert [t.frame for t in detect_transitions(grids)] == cuts


def test_frames_at_returns_exactly_the_requested_frames(cuts_clip: tuple[Path, list[int]]) -> None:
    info = video.probe(cuts_clip[0])
    seg = video.plan_segments(info, segment_s=1000)[0]
    ref = {i: video.analysis_grid(f) for i, f in video.iter_segment_frames(seg)}
    wanted = [0, 3, 57, 58, 120, 169]
    got = {i: video.analysis_grid(f)
           for i, f in video.iter_frames_at(str(cuts_clip[0]), video.frame_targets(info, wanted))}
    assert sorted(got) == wanted
    assert all(np.array_equal(got[i], ref[i]) for i in wanted)


def test_opening_a_non_video_names_the_file_and_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoOpenError, match="empty.mp4.*empty"):
        video.probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("hello, this is not a video\n" * 50)
    with pytest.raises(VideoOpenError, match="notes.mp4: not a readable media file"):
        video.probe(text)
    with pytest.raises(VideoOpenError, match="no such file"):
        video.probe(tmp_path / "missing.mp4")


def test_sparse_frames_skip_non_reference_decoding_yet_match_a_full_pass(tmp_path: Path) -> None:
    # B-frames and a long GOP: far-away targets are reached decoding reference frames only.
    frames, _ = cut_clip_frames([60, 60, 60], (160, 96))
    path = write_video(tmp_path / "bframes.mp4", frames, gop=250,
                       options={"preset": "medium", "bf": "3"})
    info = video.probe(path)
    seg = video.plan_segments(info, segment_s=1000)[0]
    ref = {i: video.analysis_grid(f) for i, f in video.iter_segment_frames(seg)}
    wanted = [1, 2, 40, 97, 98, 150, 179]
    got = {i: video.analysis_grid(f)
           for i, f in video.iter_frames_at(str(path), video.frame_targets(info, wanted))}
    assert sorted(got) == wanted
    assert all(np.array_equal(got[i], ref[i]) for i in wanted)


def _replaced_clip_targets(
    path: Path, wanted: list[int], replacement: list[np.ndarray], gop: int, length: int = 180,
    gop_planned: int = 10,
) -> list[tuple[int, int, int | None]]:
    """Targets planned on a clip written at ``path``, then ``path`` overwritten."""
    frames, _ = cut_clip_frames([length // 3] * 3, (160, 96))
    write_video(path, frames, gop=gop_planned)
    targets = video.frame_targets(video.probe(path), wanted)
    write_video(path, replacement, gop=gop)
    return targets


def _reported_missing(caplog: pytest.LogCaptureFixture) -> list[int]:
    """The frames ``iter_frames_at`` warned it could not decode, in order."""
    found = (re.search(r"frame (\d+) could not be decoded", r.getMessage())
             for r in caplog.records)
    return [int(m.group(1)) for m in found if m]


def _full_decode(path: Path) -> dict[int, np.ndarray]:
    info = video.probe(path)
    seg = video.plan_segments(info, segment_s=1000)[0]
    return {i: video.analysis_grid(f) for i, f in video.iter_segment_frames(seg)}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("length,gop", [(40, 50), (300, 7)], ids=["shorter", "longer"])
def test_frames_at_a_file_replaced_after_probing_ends_with_the_frames_it_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, length: int, gop: int
) -> None:
    # Both clips are 25 fps with the same time base, so a target's pts names frame f of either;
    # the replacement's keyframes are elsewhere, so seeks land before the planned keyframes.
    path = tmp_path / "replaced.mp4"
    wanted = [5, 30, 75, 130, 170]
    other, _ = cut_clip_frames([length], (160, 96), first_photo=3)
    targets = _replaced_clip_targets(path, wanted, other, gop=gop)
    start = time.monotonic()
    got = {i: video.analysis_grid(f) for i, f in video.iter_frames_at(str(path), targets)}
    assert time.monotonic() - start < 10
    ref = _full_decode(path)
    assert sorted(got) == [f for f in wanted if f < length]
    assert all(np.array_equal(got[i], ref[i]) for i in got)
    assert _reported_missing(caplog) == [f for f in wanted if f >= length]


@pytest.mark.timeout(20)
def test_frames_at_a_replacement_starting_later_skips_what_lies_before_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    # Matroska timestamps are milliseconds: the replacement's first frame is at 2 s, after the
    # first two targets and their keyframes.
    path = tmp_path / "replaced.mkv"
    frames, _ = cut_clip_frames([60, 60, 60], (160, 96))
    write_video(path, frames, gop=10, time_base=Fraction(1, 1000),
                pts=[40 * i for i in range(180)])
    targets = video.frame_targets(video.probe(path), [5, 30, 75, 130, 170])
    other, _ = cut_clip_frames([150], (160, 96), first_photo=3)
    write_video(path, other, gop=7, time_base=Fraction(1, 1000),
                pts=[2000 + 40 * i for i in range(150)])
    start = time.monotonic()
    got = {i: video.analysis_grid(f) for i, f in video.iter_frames_at(str(path), targets)}
    assert time.monotonic() - start < 10
    ref = _full_decode(path)  # frame j of the replacement is frame j + 50 of the plan
    assert sorted(got) == [75, 130, 170]
    assert all(np.array_equal(got[i], ref[i - 50]) for i in got)
    assert _reported_missing(caplog) == [5, 30]


@pytest.mark.timeout(20)
def test_frames_at_backs_off_when_a_seek_lands_past_the_target(tmp_path: Path) -> None:
    # MPEG-TS has no index: a seek to a time that is not a keyframe bisects on timestamps and
    # lands on the next keyframe. Planned on GOP 30, read with GOP 50, seeks for frames 44 and
    # 200 land at 50 and 250, past them.
    path = tmp_path / "stream.ts"
    wanted = [5, 44, 130, 131, 200, 299]
    other, _ = cut_clip_frames([100, 100, 100], (160, 96), first_photo=2)
    targets = _replaced_clip_targets(path, wanted, other, gop=50, length=300, gop_planned=30)
    got = {i: video.analysis_grid(f) for i, f in video.iter_frames_at(str(path), targets)}
    ref = _full_decode(path)
    assert sorted(got) == wanted
    assert all(np.array_equal(got[i], ref[i]) for i in wanted)


def test_a_segment_with_no_decodable_frame_is_damage_not_black_frames(
    cuts_clip: tuple[Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Frames 70-79 lie inside the third shot (52-91); their segment gives nothing at all.
    path, cuts = cuts_clip
    info = video.probe(path)
    lost = [s for s in video.plan_segments(info, 0.4) if s.own_start == 70]
    assert len(lost) == 1 and lost[0].own_end == 80
    real = video.iter_segment_frames

    def losing(segment: Segment, threads: int = 0) -> Iterator[tuple[int, object]]:
        return iter(()) if segment.own_start == 70 else real(segment, threads)

    monkeypatch.setattr(video, "iter_segment_frames", losing)
    import media_ml.pipeline as pipeline
    from media_ml.extractors.motion import STILL

    seen = []
    real_detect = pipeline.detect
    monkeypatch.setattr(pipeline, "detect", lambda ev, chosen: seen.append(ev) or real_detect(
        ev, chosen))  # records the evidence, then the real detection
    shots, grids, damage = analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=0.4))
    assert [s.start_frame for s in shots[1:]] == cuts  # no cut, fade or shot invented in the gap
    assert damage == ["10 of 170 frames could not be decoded (2.80-3.20s)"]
    assert all(np.array_equal(grids[f], grids[69]) for f in range(70, 80))  # not black
    motion = seen[0].motion
    assert motion is not None and np.isfinite(motion).all()
    assert all(np.array_equal(motion[f], STILL) for f in range(70, 80))  # nothing moved there


def test_segments_past_the_end_of_a_file_cut_short_since_probing_are_damage(
    tmp_path: Path,
) -> None:
    # Probed with 150 frames, then replaced by its first 100: the last segments find nothing.
    frames, cuts = cut_clip_frames([30, 40, 50, 30], (160, 96))  # 150 frames
    path = write_video(tmp_path / "shortened.mp4", frames, gop=10)
    info = video.probe(path)
    write_video(path, frames[:100], gop=10)
    one, one_grids, one_damage = analyse_shots(info, InlineExecutor(),
                                               IngestSettings(segment_s=1000))
    many, many_grids, many_damage = analyse_shots(info, InlineExecutor(),
                                                  IngestSettings(segment_s=0.4))
    assert len(video.plan_segments(info, 0.4)) > 10
    assert many == one
    assert np.array_equal(many_grids, one_grids)
    assert [s.start_frame for s in many[1:]] == [c for c in cuts if c < 100]
    assert many_damage == one_damage == ["50 of 150 frames could not be decoded (4.00-6.00s)"]


class _Landing:
    """A container whose seeks land at ``at(where)`` (None: at the end, nothing to decode)."""

    def __init__(self, at: Callable[[int], int | None]) -> None:
        self.at = at
        self.seeks: list[int] = []

    def seek(self, where: int, **_: object) -> None:
        self.seeks.append(where)

    def decode(self) -> Iterator[SimpleNamespace]:
        landed = self.at(self.seeks[-1])
        return iter(() if landed is None else [SimpleNamespace(pts=landed)])


@pytest.mark.parametrize("lands", ["late", "at_the_end"])
def test_the_seek_routine_backs_off_to_the_start_and_never_loops(lands: str) -> None:
    # Every seek lands past the frame wanted (or at the end of the file): the routine tries ever
    # earlier points, a quarter second back and doubling, then the start, and no place twice.
    c = _Landing(lambda where: 10**9 if lands == "late" else None)
    seeker = Seeker(c, SimpleNamespace(time_base=Fraction(1, 1000)), "clip.ts", c.decode)
    seeker.seek(60_000, 59_000)
    assert c.seeks == [59_000, 58_750, 58_250, 57_250, 55_250, 51_250, 43_250, 27_250, 0]
    frames, first = seeker.seek(60_000, 59_000)  # the same target again: no seek at all
    assert (list(frames), first) == ([], None)
    assert len(c.seeks) == 9


def test_the_seek_routine_keeps_a_landing_at_or_before_the_frame() -> None:
    c = _Landing(lambda where: where - 80)  # a keyframe shortly before each point
    seeker = Seeker(c, SimpleNamespace(time_base=Fraction(1, 1000)), "clip.mp4", c.decode)
    frames, first = seeker.seek(60_000, 59_000)
    assert c.seeks == [59_000] and first == 58_920
    assert [f.pts for f in frames] == [58_920]
