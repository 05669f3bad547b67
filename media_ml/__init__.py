"""media-ml: turn raw video into searchable, rankable artwork candidates.

The public Python API::

    from media_ml import Library
    with Library("lib") as lib:
        report = lib.ingest("videos/")             # a local Dask cluster by default
        for v in lib.videos():
            print(v.path, v.shots, v.keyframes)
        hits = lib.search(text="a cat on a sofa", k=10)
        for c in lib.suggest(hits[0].video_id, "mobile-boxart", k=5):
            print(c.candidate_id, c.score, c.crop, c.reasons)
        d = lib.choose(hits[0].video_id, "web-row", member={"device": "tv", "hour": 21})
        lib.reward(d.decision_id, 1.0)             # personalization: see media_ml.personalize

Everything else (extractors, index, workers) is internal and may change. Heavy dependencies
(Dask, torch, FAISS) are imported only by the functions that need them.
"""

from media_ml.errors import (
    DecisionExpiredError,
    DecodeError,
    IndexCorruptError,
    LibraryError,
    MediaMLError,
    ModelLoadError,
    NotFoundError,
    PolicyStateError,
    SourceChangedError,
    UsageError,
    VideoOpenError,
)
from media_ml.extractors.video import probe
from media_ml.frames import export_frames
from media_ml.library import IngestReport, Library
from media_ml.personalize.config import PersonalizeConfig
from media_ml.personalize.log import DecisionRecord
from media_ml.personalize.personalizer import Decision, LearnReport
from media_ml.pipeline import IngestSettings
from media_ml.ranking.contexts import Context, get_context, load_contexts
from media_ml.ranking.suggest import Candidate, Suggestions
from media_ml.search import Hit
from media_ml.types import Keyframe, Shot, Signals, Video, VideoInfo

__all__ = [
    "Candidate", "Context", "Decision", "DecisionExpiredError", "DecisionRecord", "DecodeError",
    "Hit", "IndexCorruptError", "IngestReport", "IngestSettings", "Keyframe", "LearnReport",
    "Library", "LibraryError", "MediaMLError", "ModelLoadError", "NotFoundError",
    "PersonalizeConfig", "PolicyStateError", "Shot", "Signals", "SourceChangedError",
    "Suggestions", "UsageError", "Video", "VideoInfo", "VideoOpenError", "export_frames",
    "get_context", "load_contexts", "probe",
]
__version__ = "0.1.0"
