"""Versioned policy snapshots: the engine's own model file plus a JSON manifest, never pickle.

``DIR/personalize/policies/<lineage>/v000007.model`` (Vowpal Wabbit's format, or the Thompson
policy's Beta parameters as JSON) and ``v000007.json``, the manifest: version, policy and its
settings, engine version, the library and feature set it was learned on, the model file's
SHA-256, how many decisions it has learned. A lineage is one set of learning settings (changing
the policy starts a new lineage; the old one is kept). Versions are numbered across lineages, so a
decision's ``policy_version`` names one snapshot of the library.

Writes are atomic (model first, manifest last, each by rename), so a reader sees a whole snapshot
or none; ``CURRENT`` changes with every new snapshot, so serving processes notice one with a
``stat``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_ml.errors import PolicyStateError
from media_ml.personalize.config import PersonalizeConfig
from media_ml.personalize.policies import (
    ThompsonPolicy,
    VWPolicy,
    engine_version,
    load_policy,
    manifest_json,
    write_atomic,
)

_MANIFEST = re.compile(r"v(\d{6,})\.json")


@dataclass(frozen=True)
class FeatureSet:
    """What a snapshot's features were made of; a snapshot is used only where they agree."""

    library_id: str
    feature_version: int
    projection: str  # Projection.identity ('' when no CLIP dims)

    def as_json(self) -> dict[str, Any]:
        return {"library_id": self.library_id, "feature_version": self.feature_version,
                "projection": self.projection}


@dataclass(frozen=True)
class Snapshot:
    version: int
    manifest: dict[str, Any]
    model: Path


def lineage(config: PersonalizeConfig) -> str:
    doc = json.dumps(config.policy_fingerprint(), sort_keys=True)
    return f"{config.policy}-{hashlib.sha256(doc.encode()).hexdigest()[:10]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class SnapshotStore:
    """The snapshots of one library (``DIR/personalize/policies``)."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root) / "personalize" / "policies"
        self.current = self.dir / "CURRENT"

    def stamp(self) -> tuple[int, int] | None:
        """Cheap change detector: the ``CURRENT`` file's inode and mtime (None if absent)."""
        try:
            st = os.stat(self.current)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def max_version(self) -> int:
        best = 0
        if self.dir.is_dir():
            for m in self.dir.glob("*/v*.json"):
                hit = _MANIFEST.fullmatch(m.name)
                if hit:
                    best = max(best, int(hit.group(1)))
        return best

    def latest(self, config: PersonalizeConfig) -> Snapshot | None:
        """The newest whole snapshot of this config's lineage (None when it has none)."""
        folder = self.dir / lineage(config)
        if not folder.is_dir():
            return None
        found = sorted(((int(h.group(1)), p) for p in folder.glob("v*.json")
                        if (h := _MANIFEST.fullmatch(p.name))), reverse=True)
        for version, path in found:
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise PolicyStateError(f"{path}: unreadable snapshot manifest ({e})") from e
            return Snapshot(version, manifest, folder / str(manifest.get("model", "")))
        return None

    def check(self, snap: Snapshot, config: PersonalizeConfig, features: FeatureSet) -> None:
        """Refuse a snapshot made for another library, feature set, policy or engine."""
        m = snap.manifest
        where = f"policy snapshot v{snap.version} ({snap.model.parent})"
        if m.get("library_id") != features.library_id:
            raise PolicyStateError(f"{where} was learned in library {m.get('library_id')!r}, "
                                   f"not this one ({features.library_id}); run `media-ml learn "
                                   "--restart` to learn this library's own")
        if m.get("features") != features.as_json():
            raise PolicyStateError(f"{where} was learned on another feature set "
                                   f"({m.get('features')} vs {features.as_json()}); run "
                                   "`media-ml learn --library DIR --restart`")
        if m.get("settings") != config.policy_fingerprint():
            raise PolicyStateError(f"{where} has other learning settings than the library's")
        if config.policy != "thompson" and m.get("engine") != engine_version():
            raise PolicyStateError(f"{where} was written by {m.get('engine')}, this is "
                                   f"{engine_version()}; run `media-ml learn --restart`")
        if not snap.model.is_file() or _sha256(snap.model) != m.get("sha256"):
            raise PolicyStateError(f"{where}: model file {snap.model.name} is missing or does "
                                   "not match its manifest")

    def load(self, snap: Snapshot, config: PersonalizeConfig,
             features: FeatureSet) -> VWPolicy | ThompsonPolicy:
        self.check(snap, config, features)
        return load_policy(config, snap.model)

    def write(self, policy: VWPolicy | ThompsonPolicy, version: int, config: PersonalizeConfig,
              features: FeatureSet, learned: int, extra: dict[str, Any]) -> Snapshot:
        folder = self.dir / lineage(config)
        folder.mkdir(parents=True, exist_ok=True)
        model = folder / f"v{version:06d}.model"
        tmp = folder / f".v{version:06d}.model.{os.getpid()}.tmp"
        policy.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, model)
        manifest = {
            "version": version, "policy": config.policy,
            "settings": config.policy_fingerprint(), "vw_args": config.vw_args()
            if config.exploration else None,
            "engine": engine_version() if config.exploration else "media-ml thompson",
            "features": features.as_json(), "library_id": features.library_id,
            "model": model.name, "sha256": _sha256(model), "learned_decisions": learned,
            "created_at": time.time(), **extra,
        }
        write_atomic(folder / f"v{version:06d}.json", manifest_json(manifest))
        write_atomic(self.current, f"{lineage(config)}/v{version:06d}\n".encode())
        return Snapshot(version, manifest, model)
