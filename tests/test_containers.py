"""Every container and codec decodes the same, segmented or not (clips written by the tests).

Each case is a tiny clip with known hard cuts, encoded with PyAV the way such files come in:
B-frames, open GOPs, alternate reference frames, variable timing, timestamps that do not start
at zero, B-frames muxed with decode times for presentation times (the decoder then gives frames
in the right order with timestamps out of order: old AVIs and some MP4 muxers). On each,
segmented analysis equals one pass and finds the cuts, segments and sparse decoding give the
very frames a plain decode shows, and no frame is called undecodable.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import cut_clip_frames, write_video

from media_ml.extractors import video
from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots
from media_ml.types import VideoInfo

SHOTS = [30, 22, 40, 18, 35]  # 145 frames
SIZE = (192, 108)
SEGMENT_S = 0.5  # about a GOP: a dozen segments a clip
X264_B = {"preset": "veryfast", "bf": "3", "crf": "23"}  # ultrafast would disable B-frames


@dataclass(frozen=True)
class Case:
    """One container × codec combination and how to encode it."""

    id: str
    ext: str
    codec: str
    options: dict[str, str] = field(default_factory=dict)
    pix_fmt: str = "yuv420p"
    gop: int = 12
    pts: tuple[int, ...] | None = None  # None: one tick of 1/25 s a frame
    time_base: Fraction | None = None
    bframes: bool = False  # frames decoded in another order than shown
    open_gop: bool = False  # frames decoded after a keyframe but shown before it
    pts_as_dts: bool = False  # muxed with decode times as presentation times


N = sum(SHOTS)
CUTS = [30, 52, 92, 110]
# Variable timing: 40 ms a frame, 80 ms in the third shot, 20 ms in the fourth.
_VFR = tuple(int(t) for t in np.cumsum([0] + [80 if 52 <= i < 92 else 20 if 92 <= i < 110
                                              else 40 for i in range(N - 1)]))

CASES = [
    Case("mp4-h264-bframes", "mp4", "libx264", X264_B, bframes=True),
    Case("ts-h264-bframes", "ts", "libx264", X264_B, bframes=True),
    Case("m2ts-h264-bframes", "m2ts", "libx264", X264_B, bframes=True),
    Case("mkv-vp9", "mkv", "libvpx-vp9", {"deadline": "good", "cpu-used": "8"}),
    Case("webm-vp8", "webm", "libvpx", {"deadline": "good", "cpu-used": "8"}),
    Case("mov-mjpeg", "mov", "mjpeg", {"q:v": "3"}, pix_fmt="yuvj420p"),
    Case("mov-prores", "mov", "prores_ks", {"profile": "0"}, pix_fmt="yuv422p10le"),
    # MPEG-4 part 2 and MPEG-2 B-frames refer across the I-frame: open GOPs by nature.
    Case("avi-mpeg4-bframes", "avi", "mpeg4", {"bf": "2", "q:v": "4"}, bframes=True,
         open_gop=True),
    Case("mpg-mpeg2-bframes", "mpg", "mpeg2video", {"bf": "2", "q:v": "4"}, bframes=True,
         open_gop=True),
    Case("mp4-hevc-bframes", "mp4", "libx265",  # x265 makes open GOPs by default
         {"preset": "veryfast", "x265-params": "bframes=3:log-level=error"}, bframes=True,
         open_gop=True),
    Case("mp4-h264-open-gop", "mp4", "libx264", {**X264_B, "x264-params": "open-gop=1"},
         bframes=True, open_gop=True),
    Case("ts-h264-open-gop", "ts", "libx264", {**X264_B, "x264-params": "open-gop=1"},
         bframes=True, open_gop=True),
    Case("mkv-h264-vfr", "mkv", "libx264", X264_B, pts=_VFR, time_base=Fraction(1, 1000),
         bframes=True),
    Case("ts-h264-late-start", "ts", "libx264", X264_B,
         pts=tuple(range(3000, 3000 + N)), time_base=Fraction(1, 25), bframes=True),
    Case("mp4-h264-late-start", "mp4", "libx264", X264_B,
         pts=tuple(range(3000, 3000 + N)), time_base=Fraction(1, 25), bframes=True),
    Case("mp4-h264-pts-as-dts", "mp4", "libx264", X264_B, pts_as_dts=True),
    Case("mkv-h264-pts-as-dts", "mkv", "libx264", X264_B, pts_as_dts=True),
    # ... with open GOPs: a keyframe is shown later than its timestamp says, so no seek can be
    # placed and every read starts at the first frame.
    Case("mp4-h264-open-gop-pts-as-dts", "mp4", "libx264",
         {**X264_B, "x264-params": "open-gop=1"}, open_gop=True, pts_as_dts=True),
]


def _can_encode(codec: str) -> bool:
    if codec not in av.codecs_available:
        return False
    try:
        av.Codec(codec, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("containers")


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def clip(request: pytest.FixtureRequest, clip_dir: Path) -> tuple[Case, VideoInfo]:
    """The case's clip, written on first use (the module's tests share it), and its probe."""
    case: Case = request.param
    if not _can_encode(case.codec):
        pytest.skip(f"this PyAV build cannot encode {case.codec}")
    path = clip_dir / f"{case.id}.{case.ext}"
    if not path.exists():
        frames, cuts = cut_clip_frames(SHOTS, SIZE)
        assert cuts == CUTS
        write_video(path, frames, codec=case.codec, pix_fmt=case.pix_fmt, gop=case.gop,
                    options=case.options, pts=case.pts, time_base=case.time_base,
                    pts_as_dts=case.pts_as_dts)
    info = video.probe(path)
    assert info.frames == N, f"{case.id}: probe found {info.frames} of {N} frames"
    return case, info


def _plain_decode(info: VideoInfo) -> dict[int, np.ndarray]:
    """Every frame by frame index, from PyAV's own decode loop: the reference (placed by
    timestamp, or by output order where the timestamps are out of order)."""
    out: dict[int, np.ndarray] = {}
    with av.open(info.path) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            k = i if info.decode_order else int(np.searchsorted(info.pts, frame.pts))
            if k < info.frames and (info.decode_order or info.pts[k] == frame.pts):
                out[k] = frame.to_ndarray()
    return out


def test_each_clip_is_what_its_case_says(clip: tuple[Case, VideoInfo]) -> None:
    # An encoder that ignores an option would make a case test nothing: check the clip.
    case, info = clip
    with av.open(info.path) as c:
        packets = [(int(p.pts), p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]
    pts = [p for p, _ in packets]
    assert any(b < a for a, b in zip(pts, pts[1:], strict=False)) == case.bframes
    with av.open(info.path) as c:
        shown = [int(f.pts) for f in c.decode(c.streams.video[0])]
    assert (shown != sorted(shown)) == case.pts_as_dts  # what the case is about
    assert info.decode_order == case.pts_as_dts == info.as_json()["decode_order"]
    keys = [i for i, (_, key) in enumerate(packets) if key] + [len(packets)]
    leading = any(p < pts[a] for a, b in zip(keys[1:], keys[2:], strict=False)
                  for p in pts[a + 1 : b])
    # Decode times as presentation times hide the reordering from the packets; the probe finds
    # open GOPs by decoding, and then leaves only the first frame to start from.
    assert leading == (case.open_gop and not case.pts_as_dts)
    assert (info.keyframes.size == 1) == (case.open_gop and case.pts_as_dts)
    assert info.vfr == (case.pts == _VFR)
    if case.pts is not None and case.time_base is not None:
        assert info.start_time_s == pytest.approx(float(case.pts[0] * case.time_base))


def test_segmented_shots_equal_one_pass_and_find_the_cuts(
    clip: tuple[Case, VideoInfo],
) -> None:
    case, info = clip
    if case.open_gop and case.pts_as_dts:  # one segment: no keyframe a seek can be placed at
        assert len(video.plan_segments(info, SEGMENT_S)) == 1
    else:
        assert len(video.plan_segments(info, SEGMENT_S)) >= 4, "too few keyframes to segment"
    one, one_grids, one_damage = analyse_shots(info, InlineExecutor(),
                                               IngestSettings(segment_s=1e6))
    many, many_grids, many_damage = analyse_shots(info, InlineExecutor(),
                                                  IngestSettings(segment_s=SEGMENT_S))
    assert one_damage == [] and many_damage == []
    assert [s.start_frame for s in one[1:]] == CUTS
    assert many == one
    assert np.array_equal(many_grids, one_grids)


def test_segments_decode_the_frames_a_plain_decode_shows(clip: tuple[Case, VideoInfo]) -> None:
    case, info = clip
    ref = _plain_decode(info)
    for seg in video.plan_segments(info, SEGMENT_S):
        got = {i: f.to_ndarray() for i, f in video.iter_segment_frames(seg)
               if seg.own_start <= i < seg.own_end}
        assert sorted(got) == list(range(seg.own_start, seg.own_end))
        for i, pixels in got.items():
            assert np.array_equal(pixels, ref[i]), f"{case.id}: frame {i} differs"


def test_sparse_frames_are_bit_identical_to_a_full_decode(
    clip: tuple[Case, VideoInfo], caplog: pytest.LogCaptureFixture,
) -> None:
    case, info = clip
    # Both ends, each cut and the frame before it, and frames inside GOPs.
    wanted = sorted({0, 1, 7, 40, 41, 77, 120, N - 2, N - 1} | set(CUTS) | {c - 1 for c in CUTS})
    ref = _plain_decode(info)
    assert sorted(ref) == list(range(N))
    with caplog.at_level(logging.WARNING):
        got = {i: f.to_ndarray()
               for i, f in video.iter_frames_at(info.path, video.frame_targets(info, wanted))}
    missing = [m.group(1) for r in caplog.records
               if (m := re.search(r"frame (\d+) could not be decoded", r.getMessage()))]
    assert missing == []
    assert sorted(got) == wanted
    for i in wanted:
        assert np.array_equal(got[i], ref[i]), f"{case.id}: frame {i} differs"


def test_retimed_frames_take_the_timestamps_in_order_and_a_keyframe_resyncs() -> None:
    from types import SimpleNamespace as NS

    from media_ml.extractors.decode import Retimer

    r = Retimer()
    out = []
    # Packets muxed with decode times (0, 10, 20, ...); the decoder shows each frame one packet
    # late, with the timestamp of another frame of its GOP; keyframes at 0 and 60.
    shown = {1: 0, 2: 20, 3: 10, 4: 40, 5: 30, 6: 50, 7: 60, 8: 80, 9: 70}
    for i in range(10):
        r.packet(NS(pts=i * 10))
        if i == 4:
            continue  # the frame of this packet is lost (a damaged packet)
        if i in shown:
            f = NS(pts=shown[i], key_frame=shown[i] in (0, 60))
            out.append(int(r.frame(f).pts))
    # In order, with the lost frame's timestamp taken by the next one until the keyframe at 60.
    assert out == [0, 10, 20, 30, 40, 60, 70, 80]
