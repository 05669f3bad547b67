"""Catalog schemas of earlier media-ml releases, frozen: migration tests build them."""

# The catalog schema of media-ml 0.1 (44d7c00), frozen for migration tests.
SCHEMA_V1 = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS videos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        fps REAL NOT NULL,
        frames INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        rotation INTEGER NOT NULL,
        codec TEXT NOT NULL,
        start_time_s REAL NOT NULL,
        vfr INTEGER NOT NULL,
        model TEXT,
        damage TEXT NOT NULL DEFAULT '[]',
        ingested_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS shots (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        transition_in TEXT,
        transition_frames INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (video_id, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS keyframes (
        id INTEGER PRIMARY KEY,
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        shot_index INTEGER NOT NULL,
        frame INTEGER NOT NULL,
        time_s REAL NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        brightness REAL, exposure REAL, contrast REAL, colourfulness REAL, sharpness REAL,
        faces INTEGER, face_area REAL, composition REAL, black INTEGER,
        signals TEXT NOT NULL,
        face_boxes TEXT NOT NULL,
        thumbnail TEXT NOT NULL,
        UNIQUE (video_id, frame)
    )""",
    "CREATE INDEX IF NOT EXISTS keyframes_video ON keyframes(video_id, shot_index)",
    """CREATE TABLE IF NOT EXISTS failures (
        path TEXT PRIMARY KEY, content_hash TEXT, error TEXT NOT NULL, failed_at REAL NOT NULL
    )""",
]


# The catalog schema v2 (666192e … 34c8f6c), frozen for migration tests.
SCHEMA_V2 = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS videos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        content_hash TEXT NOT NULL,
        settings TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        fps REAL NOT NULL,
        frames INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        rotation INTEGER NOT NULL,
        codec TEXT NOT NULL,
        start_time_s REAL NOT NULL,
        vfr INTEGER NOT NULL,
        model TEXT,
        damage TEXT NOT NULL DEFAULT '[]',
        ingested_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS shots (
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start_frame INTEGER NOT NULL,
        end_frame INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        transition_in TEXT,
        transition_frames INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (video_id, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS keyframes (
        id INTEGER PRIMARY KEY,
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        shot_index INTEGER NOT NULL,
        frame INTEGER NOT NULL,
        time_s REAL NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        brightness REAL, exposure REAL, contrast REAL, colourfulness REAL, sharpness REAL,
        faces INTEGER, face_area REAL, composition REAL, black INTEGER,
        signals TEXT NOT NULL,
        face_boxes TEXT NOT NULL,
        thumbnail TEXT NOT NULL,
        pts INTEGER,
        seek_pts INTEGER,
        UNIQUE (video_id, frame)
    )""",
    "CREATE INDEX IF NOT EXISTS keyframes_video ON keyframes(video_id, shot_index)",
    """CREATE TABLE IF NOT EXISTS vectors (
        keyframe_id INTEGER PRIMARY KEY REFERENCES keyframes(id) ON DELETE CASCADE,
        vector BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS candidates (
        id INTEGER PRIMARY KEY,
        keyframe_id INTEGER NOT NULL REFERENCES keyframes(id) ON DELETE CASCADE,
        context TEXT NOT NULL,
        x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,
        last_rank INTEGER, last_score REAL, last_suggested_at REAL,
        UNIQUE (keyframe_id, context, x, y, w, h)
    )""",
    """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY,
        candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        context TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
        note TEXT,
        rank INTEGER,
        score REAL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feedback_candidate ON feedback(candidate_id)",
    """CREATE TABLE IF NOT EXISTS failures (
        path TEXT PRIMARY KEY, content_hash TEXT, error TEXT NOT NULL, failed_at REAL NOT NULL
    )""",
]
