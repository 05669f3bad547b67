"""media-ml: turn raw video into searchable, rankable artwork candidates.

The public Python API::

    from media_ml import Library
    with Library("lib") as lib:
        report = lib.ingest(["videos/"])           # a local Dask cluster by default
        for v in lib.videos():
            print(v.path, v.shots, v.keyframes)

Heavy dependencies (Dask, torch) are imported only by the functions that need them.
"""

from media_ml.errors import (
    DecodeError,
    IndexCorruptError,
    LibraryError,
    MediaMLError,
    ModelLoadError,
    UsageError,
    VideoOpenError,
)
from media_ml.extractors.shots import ShotDetectorConfig, detect_transitions
from media_ml.extractors.video import plan_segments, probe
from media_ml.frames import export_frames
from media_ml.library import IngestReport, Library, VideoRow
from media_ml.pipeline import IngestSettings, analyse_shots
from media_ml.types import Keyframe, Segment, Shot, Signals, VideoInfo

__all__ = [
    "DecodeError", "IndexCorruptError", "IngestReport", "IngestSettings", "Keyframe", "Library",
    "LibraryError", "MediaMLError", "ModelLoadError", "Segment", "Shot", "ShotDetectorConfig",
    "Signals", "UsageError", "VideoInfo", "VideoOpenError", "VideoRow", "analyse_shots",
    "detect_transitions", "export_frames", "plan_segments", "probe",
]
__version__ = "0.1.0"
