"""The data that crosses seams: small, frozen, picklable.

Workers return these to the driver; the driver commits them. None of them carries decoded frames
except as compressed thumbnail bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np

TransitionKind = Literal["cut", "dissolve", "fade", "wipe"]


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """What probing a file tells: geometry, timing and the frame timeline.

    ``pts`` holds the presentation timestamp of every frame in stream ``time_base`` units, sorted;
    frame ``i`` of the video is the one presented at ``pts[i]``. Times reported to users are
    seconds from the first frame (``start_time_s`` is the container's own offset of that frame).
    Width and height are in display orientation (after ``rotation``).
    """

    path: str
    width: int
    height: int
    rotation: int
    fps: float
    frames: int
    duration_s: float
    start_time_s: float
    time_base: Fraction
    codec: str
    pix_fmt: str
    vfr: bool
    pts: np.ndarray = field(repr=False)
    keyframes: np.ndarray = field(repr=False)  # frame indices at which decoding can start
    notes: tuple[str, ...] = ()  # problems met while probing (e.g. the file ends early)
    #: The decoder gives frames in presentation order but with timestamps out of that order
    #: (B-frames muxed without composition times: packed MPEG-4 in AVI, some MP4 muxers), so
    #: the readers retime frames in decoding order (``retime.Retimer``).
    decode_order: bool = False

    def time_of(self, frame: int) -> float:
        """Seconds from the first frame to the presentation of ``frame``."""
        if frame >= self.frames:
            return self.duration_s
        return float((int(self.pts[frame]) - int(self.pts[0])) * self.time_base)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration_s": round(self.duration_s, 6),
            "fps": round(self.fps, 6),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "start_time_s": round(self.start_time_s, 6),
            "codec": self.codec,
            "vfr": self.vfr,
            "decode_order": self.decode_order,
        }


@dataclass(frozen=True)
class Segment:
    """A piece of a video a worker decodes on its own.

    The worker seeks to ``seek_pts`` (a keyframe), decodes frames ``first_frame`` … ``stop_frame``
    (exclusive) and reports ``own_start`` … ``own_end``; the frames before ``own_start`` are
    warm-up shared with the previous segment, so per-frame features are the same as in one pass.
    ``pts`` are the presentation timestamps of frames ``first_frame`` … ``stop_frame - 1``.
    """

    path: str
    index: int
    seek_pts: int | None
    first_frame: int
    own_start: int
    own_end: int
    stop_frame: int
    pts: tuple[int, ...] = field(repr=False)
    decode_order: bool = False  # ``VideoInfo.decode_order`` of the video


@dataclass(frozen=True, eq=False)
class SegmentFeatures:
    """Per-frame analysis features of a segment's own frames (``grids[i]`` is frame own_start+i).

    ``missing`` lists own frames the decoder could not produce; ``damage`` describes why.
    """

    index: int
    own_start: int
    own_end: int
    grids: np.ndarray = field(repr=False)  # (n, GRID_SIZE) uint8
    missing: tuple[int, ...] = ()
    damage: tuple[str, ...] = ()
    hists: np.ndarray | None = field(default=None, repr=False)  # (n, HIST_SIZE) uint8
    motion: np.ndarray | None = field(default=None, repr=False)  # (n, MOTION_FIELDS) float32
    #: ``(first decoded own frame, its motion thumbnail, the last decoded one's)``; None when
    #: nothing was decoded. The driver joins segments' motion rows with them.
    edges: tuple[int, np.ndarray, np.ndarray] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Shot:
    """A run of frames between two transitions; ``end_frame`` is exclusive.

    ``transition_frames`` counts the frames at the start of the shot that belong to the gradual
    transition leading into it (0 for a cut or the first shot).
    """

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    transition_in: TransitionKind | None
    transition_frames: int = 0

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["start_s"] = round(self.start_s, 6)
        d["end_s"] = round(self.end_s, 6)
        return d


@dataclass(frozen=True)
class Face:
    """A detected face, in pixels of the display-oriented frame."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Signals:
    """Frame signals used to rank stills. All in [0, 1] unless stated."""

    brightness: float  # mean luma
    exposure: float  # 1 - share of clipped (crushed or blown) pixels, penalising dark/bright
    contrast: float  # luma standard deviation, scaled
    colourfulness: float  # Hasler–Süsstrunk metric / 100, clipped
    sharpness: float  # variance of the Laplacian at a fixed working size (unbounded, >= 0)
    faces: int
    face_area: float  # largest face area / frame area
    face_x: float | None  # largest face centre, relative to width
    face_y: float | None
    composition: float  # rule-of-thirds: how close the salient centre lies to a thirds point
    black: bool
    # Salient region (gradient energy), relative to width/height: what a crop should keep.
    salient: tuple[float, float, float, float] = (0.25, 0.25, 0.5, 0.5)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Signals:
        """Signals as stored in the catalog (fields missing from older libraries default)."""
        def num(key: str, default: float = 0.0) -> float:
            v = doc.get(key)
            return float(v) if isinstance(v, int | float) else default

        fx, fy = doc.get("face_x"), doc.get("face_y")
        sal = doc.get("salient")
        return cls(
            brightness=num("brightness"), exposure=num("exposure"), contrast=num("contrast"),
            colourfulness=num("colourfulness"), sharpness=num("sharpness"),
            faces=int(doc.get("faces") or 0), face_area=num("face_area"),
            face_x=float(fx) if isinstance(fx, int | float) else None,
            face_y=float(fy) if isinstance(fy, int | float) else None,
            composition=num("composition"), black=bool(doc.get("black", False)),
            salient=(tuple(float(v) for v in sal)  # type: ignore[arg-type]
                     if isinstance(sal, list | tuple) and len(sal) == 4
                     else (0.25, 0.25, 0.5, 0.5)),
        )


@dataclass(frozen=True)
class ExtractedKeyframe:
    """A representative frame of a shot as a worker returns it: signals, JPEG bytes, vector.

    The driver commits it; what the library then holds is a ``Keyframe``.
    """

    shot_index: int
    frame: int
    time_s: float
    width: int
    height: int
    signals: Signals
    face_boxes: tuple[Face, ...]
    thumbnail: bytes = field(repr=False)
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    pts: int | None = None  # presentation timestamp, and the keyframe pts to seek to
    seek_pts: int | None = None


@dataclass(frozen=True)
class VideoResult:
    """Everything the driver commits for one video."""

    path: str
    content_hash: str
    info: VideoInfo
    shots: tuple[Shot, ...]
    keyframes: tuple[ExtractedKeyframe, ...]
    damage: tuple[str, ...] = ()


@dataclass(frozen=True)
class Video:
    """A video as the library holds it (``media-ml videos --json``).

    ``id`` is stable: re-ingesting the file at the same path keeps it.
    """

    id: int
    path: str
    content_hash: str
    duration_s: float
    fps: float
    frames: int
    width: int
    height: int
    rotation: int
    shots: int
    keyframes: int
    model: str | None
    damage: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": self.path, "content_hash": self.content_hash,
            "duration_s": round(self.duration_s, 6), "fps": round(self.fps, 6),
            "frames": self.frames, "width": self.width, "height": self.height,
            "rotation": self.rotation, "shots": self.shots, "keyframes": self.keyframes,
            "model": self.model, "damage": list(self.damage),
        }


@dataclass(frozen=True)
class Keyframe:
    """A keyframe as the library holds it: where it is, its signals and its thumbnail file.

    ``id`` is never reused for another picture (it is also the keyframe's vector id).
    ``pts``/``seek_pts`` say where to decode it from (None in libraries from before v2).
    """

    id: int
    video_id: int
    shot_index: int
    frame: int
    time_s: float
    width: int
    height: int
    signals: Signals
    faces: tuple[Face, ...]
    thumbnail: str
    pts: int | None = None
    seek_pts: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "video_id": self.video_id, "shot_index": self.shot_index,
            "frame": self.frame, "time_s": round(self.time_s, 6), "width": self.width,
            "height": self.height, "signals": self.signals.as_json(),
            "faces": [asdict(f) for f in self.faces], "thumbnail": self.thumbnail,
        }
