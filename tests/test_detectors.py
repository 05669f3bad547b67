"""Detectors behind one interface: the fast set is the detector it replaced, chunking agrees
with one pass for every set, the learned detector reads probabilities right, bad names fail."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from media_ml.detectors import (
    DETECTOR_SETS,
    CutDetector,
    DetectorSet,
    Evidence,
    FlashSuppressor,
    ShotDetector,
    Suppressor,
    detect,
    detector_set,
)
from media_ml.detectors.learned import LearnedConfig, LearnedDetector
from media_ml.errors import UsageError
from media_ml.extractors.shots import detect_transitions
from media_ml.extractors.video import probe
from media_ml.pipeline import IngestSettings, InlineExecutor, analyse_shots

Features = tuple[np.ndarray, np.ndarray, np.ndarray]  # grids, histograms, motion rows


def _features(path: Path) -> Features:
    from media_ml.extractors.video import plan_segments
    from media_ml.workers.tasks import segment_features

    feat = segment_features(plan_segments(probe(path), 1e9)[0], 0)
    assert feat.hists is not None and feat.motion is not None
    return feat.grids, feat.hists, feat.motion


@pytest.fixture(scope="module")
def sample_features(samples_dir: Path) -> dict[str, Features]:
    return {name: _features(samples_dir / f"{name}.mp4")
            for name in ("cuts", "gradual", "distractors", "mixed")}


@pytest.fixture(scope="module")
def sample_grids(sample_features: dict[str, Features]
                 ) -> dict[str, np.ndarray]:
    return {name: grids for name, (grids, _, _) in sample_features.items()}


def test_every_detector_and_suppressor_meets_the_protocol() -> None:
    for name in DETECTOR_SETS:
        chosen = detector_set(name)
        assert all(isinstance(d, ShotDetector) for d in chosen.detectors)
        assert all(isinstance(s, Suppressor) for s in chosen.suppressors)
        assert chosen.context > 0 and chosen.requires


@pytest.mark.parametrize("name", ["grids", "fast", "ensemble"])
def test_sets_find_every_transition_of_the_sample_clips(
    samples_dir: Path, sample_features: dict[str, Features], name: str
) -> None:
    from media_ml.detectors.scoring import load_truth, match

    for clip, (grids, hists, motion) in sample_features.items():
        truth = load_truth(samples_dir / f"{clip}.json")
        learned = many = None
        if name == "ensemble":
            from media_ml.extractors.learned import learned_segment
            from media_ml.extractors.video import plan_segments
            from media_ml.workers.tasks import learned_probabilities

            info = probe(samples_dir / f"{clip}.mp4")
            part = learned_probabilities(learned_segment(info, plan_segments(info, 1e9)[0]),
                                         info.frames, 0)
            learned = np.asarray(part.single, np.float32)
            many = np.asarray(part.many, np.float32)
        found = detect(Evidence(grids, learned, hists, many, motion), detector_set(name))
        score = match([t.frame for t in found], truth["transitions"])
        assert (score.fp, score.fn) == (0, 0), (clip, score)


def _long_evidence(sample_features: dict[str, Features]) -> Evidence:
    names = ("cuts", "gradual", "distractors", "mixed")
    grids = np.concatenate([sample_features[n][0] for n in names] * 2)
    hists = np.concatenate([sample_features[n][1] for n in names] * 2)
    motion = np.concatenate([sample_features[n][2] for n in names] * 2)
    rng = np.random.default_rng(0)
    learned = np.clip(rng.normal(0.05, 0.05, len(grids)), 0, 1).astype(np.float32)
    for f in rng.choice(len(grids) - 40, 25, replace=False):
        learned[f : f + rng.integers(1, 20)] = 0.9
    many = np.clip(learned * 1.1, 0, 1).astype(np.float32)
    return Evidence(grids, learned, hists, many, motion)


@pytest.mark.parametrize("name", sorted(DETECTOR_SETS))
def test_chunked_detection_equals_one_pass_for_every_set(
    sample_features: dict[str, Features], name: str
) -> None:
    ev = _long_evidence(sample_features)
    whole = detector_set(name)
    one_pass = DetectorSet(whole.name, whole.detectors, whole.suppressors,
                           whole.min_shot_frames, chunk_frames=10**9)
    chunked = DetectorSet(whole.name, whole.detectors, whole.suppressors,
                          whole.min_shot_frames, chunk_frames=1000)
    assert ev.frames > 3000
    expected = detect(ev, one_pass)
    assert expected and detect(ev, chunked) == expected


def test_the_learned_detector_reads_runs_of_high_probability() -> None:
    p = np.full(200, 0.02, np.float32)
    p[49] = 0.97  # TransNetV2 marks the last frame of the old shot: the cut is at 50
    p[120:135] = 0.8  # a dissolve
    p[170] = 0.3  # below the threshold
    ev = Evidence(np.zeros((200, 8), np.uint8), p)
    found = LearnedDetector().detect(ev, np.zeros(201, bool))
    assert [(t.frame, t.kind, t.length) for t in found] == [(50, "cut", 0),
                                                            (120, "dissolve", 15)]
    blocked = np.zeros(201, bool)
    blocked[125] = True  # another detector claimed the dissolve
    assert [t.frame for t in LearnedDetector().detect(ev, blocked)] == [50]
    strict = LearnedDetector(LearnedConfig(threshold=0.9))
    assert [t.frame for t in strict.detect(ev, np.zeros(201, bool))] == [50]


def test_a_leader_of_a_few_frames_is_not_a_shot() -> None:
    # One black frame before the picture (the opencv-doc Megamind clip starts so): the change
    # at frame 1 is no shot boundary; a cut a shot's length in is.
    p = np.full(200, 0.02, np.float32)
    p[0] = p[49] = 0.97
    ev = Evidence(np.zeros((200, video_grid_size()), np.uint8), p)
    chosen = detector_set("learned")
    assert [t.frame for t in LearnedDetector().detect(ev, np.zeros(201, bool))] == [1, 50]
    assert [t.frame for t in detect(ev, chosen)] == [50]
    p[0], p[chosen.min_shot_frames - 1] = 0.02, 0.97  # a first shot of min_shot_frames
    assert [t.frame for t in detect(ev, chosen)] == [chosen.min_shot_frames, 50]


def test_a_flash_is_vetoed_and_a_cut_kept(sample_grids: dict[str, np.ndarray]) -> None:
    grids = sample_grids["cuts"]
    cuts = [t for t in detect_transitions(grids) if t.kind == "cut"]
    assert cuts
    veto = FlashSuppressor()
    assert all(veto.keep(Evidence(grids), t) for t in cuts)
    flashed = grids.copy()
    f = 40 if cuts[0].frame > 45 else cuts[0].frame + 20
    flashed[f] = 250  # one white frame
    found = CutDetector().detect(Evidence(flashed), np.zeros(len(grids) + 1, bool))
    at = [t for t in found if t.frame in (f, f + 1)]
    assert at and not any(veto.keep(Evidence(flashed), t) for t in at)


def test_bad_names_and_configs_name_the_choices() -> None:
    with pytest.raises(UsageError, match="ensemble, fast, grids, learned"):
        detector_set("magic")
    with pytest.raises(UsageError, match="ensemble, fast, grids, learned"):
        IngestSettings(detectors="magic")
    with pytest.raises(UsageError, match="threshold"):
        LearnedConfig(threshold=1.5)
    with pytest.raises(ValueError, match="learned"):
        detect(Evidence(np.zeros((10, 8), np.uint8)), detector_set("learned"))
    with pytest.raises(ValueError, match="one value per frame"):
        Evidence(np.zeros((10, 8), np.uint8), np.zeros(9, np.float32))


def test_a_new_detector_set_changes_the_fingerprint_only_when_chosen() -> None:
    assert IngestSettings().fingerprint() == IngestSettings(detectors="fast").fingerprint()
    assert IngestSettings(detectors="ensemble").fingerprint() != IngestSettings().fingerprint()


@pytest.mark.parametrize("name", ["learned", "ensemble"])
def test_learned_sets_find_the_cuts_and_segmented_equals_one_pass(
    cuts_clip: tuple[Path, list[int]], name: str
) -> None:
    path, cuts = cuts_clip
    info = probe(path)
    runs = {seg: analyse_shots(info, InlineExecutor(), IngestSettings(segment_s=seg,
                                                                       detectors=name))[0]
            for seg in (1.0, 1e6)}
    assert runs[1.0] == runs[1e6]
    starts = [s.start_frame for s in runs[1e6]][1:]
    assert len(starts) == len(cuts) and all(abs(a - b) <= 1 for a, b in zip(starts, cuts,
                                                                             strict=True))


# fmt: off
def _strobe_plan():  # noqa: ANN202
    import make_motion_samples as mms

    return (
        mms.MotionPlan(seed=11, fps=25)
        .shot("coffee", 40, "steady").cut()
        .shot("astronaut", 50, "strobe").cut()
        .shot("coins", 40, "handheld").dissolve(16)
        .shot("grass", 50, "strobe").cut()
        .shot("moon", 40, "pan")
    )
# fmt: on


@pytest.fixture(scope="module")
def strobe_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    import json

    import make_motion_samples as mms

    path = tmp_path_factory.mktemp("strobe") / "strobe.mp4"
    mms.write_motion_clip(_strobe_plan(), path, name="strobe", size=(320, 180))
    return path, json.loads(path.with_suffix(".json").read_text())


def test_fast_finds_cuts_into_and_out_of_strobing_shots(strobe_clip: tuple[Path, dict]) -> None:
    from media_ml.detectors.scoring import match

    path, truth = strobe_clip
    cuts = [t for t in truth["transitions"] if t["type"] == "cut"]
    assert len(cuts) == 3
    info = probe(path)
    found = {}
    for name in ("fast", "grids"):
        shots = analyse_shots(info, InlineExecutor(), IngestSettings(detectors=name))[0]
        found[name] = match([s.start_frame for s in shots[1:]], truth["transitions"])
    # Every cut, nothing inside the strobing shots (the dissolve between two grey pictures
    # under a strobe is a known miss of the histograms: its ends differ by 0.22 < chord_min).
    assert found["fast"].fp == 0 and found["fast"].tp >= 3, found
    assert found["grids"].tp < found["fast"].tp  # the flash test alone vetoes cuts by a strobe


def test_despike_takes_out_flash_frames_and_leaves_cuts() -> None:
    from media_ml.detectors.histograms import despike

    rng = np.random.default_rng(3)
    n = 60
    scene_a = rng.integers(0, 120, (1, 48)).astype(np.uint8)
    scene_b = rng.integers(120, 256, (1, 48)).astype(np.uint8)
    hists = np.repeat(scene_a, n, axis=0)
    hists[40:] = scene_b  # a cut at 40
    white = np.zeros(48, np.uint8)
    white[15] = white[31] = white[47] = 255
    hists[10] = white  # a one-frame flash
    hists[20:22] = white  # a two-frame flash
    grids = np.repeat(np.full((1, 208), 90, np.uint8), n, axis=0)
    grids[40:] = 150
    grids[[10, 20, 21]] = 250
    out = despike(Evidence(grids, hists=hists))
    assert out.hists is not None
    np.testing.assert_array_equal(out.hists[[10, 20, 21]], hists[[9, 19, 19]])
    assert (out.grids[[10, 20, 21]] == 90).all()
    np.testing.assert_array_equal(out.hists[35:45], hists[35:45])  # the cut stays
    assert (out.grids[40:] == 150).all()


def test_new_detector_configs_are_validated() -> None:
    from media_ml.detectors.ensemble import ConfirmedCutDetector
    from media_ml.detectors.histograms import (
        HistogramCutDetector,
        HistogramGradualDetector,
        SceneCutDetector,
    )

    with pytest.raises(ValueError, match="SceneCutDetector.window"):
        SceneCutDetector(window=0)
    with pytest.raises(ValueError, match="SceneCutDetector.jump_min"):
        SceneCutDetector(jump_min=float("nan"))
    with pytest.raises(ValueError, match="HistogramCutDetector.abrupt"):
        HistogramCutDetector(abrupt=2.0)
    with pytest.raises(ValueError, match="HistogramGradualDetector.min_frames"):
        HistogramGradualDetector(min_frames=0)
    with pytest.raises(ValueError, match="abrupt"):
        ConfirmedCutDetector(abrupt=-1.0)


def test_exported_tree_model_matches_scikit_learn(tmp_path: Path) -> None:
    import importlib.util

    from sklearn.ensemble import HistGradientBoostingClassifier

    from media_ml.detectors.scored import FEATURES, TreeModel

    spec = importlib.util.spec_from_file_location(
        "train_gradual", Path(__file__).resolve().parent.parent / "benchmarks" / "train_gradual.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, len(FEATURES)))
    y = (X[:, 0] + 0.5 * X[:, 5] * X[:, 2] > 0).astype(int)
    clf = HistGradientBoostingClassifier(max_depth=3, max_iter=30, random_state=0).fit(X, y)
    train.export(clf, tmp_path / "m.npz")
    model = TreeModel.load(tmp_path / "m.npz")
    np.testing.assert_allclose(model.probability(X), clf.predict_proba(X)[:, 1], atol=1e-12)


def test_the_shipped_gradual_model_loads_and_scores_in_range() -> None:
    from media_ml.detectors.scored import FEATURES, MODEL_PATH, ScoredGradualDetector, load_model

    model = load_model(str(MODEL_PATH))
    assert model.features == FEATURES and model.roots.size > 10
    p = model.probability(np.zeros((3, len(FEATURES))))
    assert ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="threshold"):
        ScoredGradualDetector(threshold=1.0)


# fmt: off
def _moving_dissolves_plan():  # noqa: ANN202
    import make_motion_samples as mms

    return (
        mms.MotionPlan(seed=23, fps=25)
        .shot("coffee", 45, "pan").dissolve(20)
        .shot("astronaut", 45, "handheld").cut()
        .shot("coins", 45, "zoom").dissolve(24)
        .shot("retina", 45, "pan").wipe(14, "left")
        .shot("moon", 45, "handheld")
    )
# fmt: on


def test_fast_finds_dissolves_and_wipes_between_moving_shots(tmp_path: Path) -> None:
    import json

    import make_motion_samples as mms

    from media_ml.detectors.scoring import score_kinds

    path = tmp_path / "moving.mp4"
    mms.write_motion_clip(_moving_dissolves_plan(), path, name="moving", size=(320, 180))
    truth = json.loads(path.with_suffix(".json").read_text())
    info = probe(path)
    found = {}
    for name in ("fast", "grids"):
        shots = analyse_shots(info, InlineExecutor(), IngestSettings(detectors=name))[0]
        found[name] = score_kinds([s.start_frame for s in shots[1:]], truth)
    fast = found["fast"].overall
    # Every transition; at most one extra boundary (here a pan over the retina photograph
    # scores 0.71, just over the threshold: precision is measured in benchmarks/shots.py).
    assert fast.fn == 0 and fast.fp <= 1, found["fast"]
    assert found["grids"].overall.fn > 0  # what camera motion did to the grid-only detector


def test_a_retrained_gradual_model_changes_the_fingerprint(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import media_ml.detectors.scored as scored

    before = {name: IngestSettings(detectors=name).fingerprint()
              for name in ("fast", "ensemble", "learned")}
    monkeypatch.setattr(scored, "model_digest", lambda path="": "0" * 12)
    after = {name: IngestSettings(detectors=name).fingerprint() for name in before}
    assert after["fast"] != before["fast"] and after["ensemble"] != before["ensemble"]
    assert after["learned"] == before["learned"]  # it does not use the scorer


def test_a_missing_or_damaged_gradual_model_is_named(tmp_path: Path) -> None:
    from media_ml.detectors.scored import load_model
    from media_ml.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="missing.npz"):
        load_model(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="bad.npz"):
        load_model(str(bad))


def test_detector_options_configure_the_sets_and_the_fingerprint() -> None:
    from media_ml.detectors import configure
    from media_ml.detectors.scored import ScoredGradualDetector

    shot, learned = configure(["gradual_score=0.85", "learned.threshold=0.6",
                               "gradual_scales=6, 9"])
    assert shot.gradual_score == 0.85 and shot.gradual_scales == (6, 9)
    assert learned.threshold == 0.6
    for name in ("fast", "ensemble"):
        scorers = [d for d in detector_set(name, shot, learned).detectors
                   if isinstance(d, ScoredGradualDetector)]
        assert [d.threshold for d in scorers] == [0.85]
    assert (IngestSettings(detector=shot).fingerprint() != IngestSettings().fingerprint())
    assert configure([]) == (configure([])[0].__class__(), LearnedConfig())


@pytest.mark.parametrize("option, says", [
    ("foo=1", "gradual_score"),  # names the valid keys
    ("gradual_score", "KEY=VALUE"),
    ("gradual_score=1.5", "(0, 1)"),
    ("gradual_score=nan", "finite"),
    ("cut_min=inf", "finite"),
    ("cut_min=-1", "0 to 1e6"),
    ("learned.threshold=nan", "finite"),
    ("learned.cut_frames=2.5", "whole number"),
    ("learned.context_frames=100000", "0..100"),
    ("gradual_scales=5,x", "comma-separated"),
    ("gradual_scales=5,100000", "gradual_scales must be at most 1000 frames"),
    ("gradual_gap=5000", "gradual_gap must be at most 1000 frames"),
    ("learned.near_frames=99", "near_frames must be 0..50"),
    ("learned.tail=1", "tail must be in (0, 1)"),
    ("chunk_frames=" + "9" * 300, "not a whole number"),
])
def test_bad_detector_options_are_usage_errors(option: str, says: str) -> None:
    from media_ml.detectors import configure

    with pytest.raises(UsageError, match=re.escape(says)):
        configure([option])


def test_the_gradual_score_option_changes_what_fast_finds() -> None:
    """Asked to take any window the model gives 5 % as a dissolve, ``fast`` splits the real
    bikes clip's moving shots; at the shipped bar it finds its five cuts only: the option
    reaches the detector on the real path."""
    from media_ml.detectors import configure

    path = Path(__file__).resolve().parent.parent / "sample_media" / "bikes.mp4"
    info = probe(path)
    counts = []
    for score in ("0.05", "0.7"):
        shot, _ = configure([f"gradual_score={score}"])
        shots, _, _ = analyse_shots(info, InlineExecutor(), IngestSettings(detector=shot))
        counts.append(len(shots))
    assert counts[0] > counts[1] == 6


def _render_and_score(plan, tmp_path: Path, name: str):  # noqa: ANN001, ANN202
    """Render ``plan`` (320x180) and return a function scoring the default ``fast`` set on it."""
    import json

    import make_motion_samples as mms

    from media_ml.detectors.scoring import match

    path = tmp_path / f"{name}.mp4"
    mms.write_motion_clip(plan, path, name=name, size=(320, 180))
    truth = json.loads(path.with_suffix(".json").read_text())["transitions"]
    info = probe(path)

    def score():  # noqa: ANN202
        found = analyse_shots(info, InlineExecutor(), IngestSettings())[0]
        return match([s.start_frame for s in found[1:]], truth)

    return score


def _fast_scorer_with(monkeypatch: pytest.MonkeyPatch, **changes: int) -> None:
    """Make the ``fast`` set's scored gradual detector use ``changes`` (for this test only)."""
    from dataclasses import replace

    from media_ml.detectors import DETECTOR_SETS
    from media_ml.detectors.scored import ScoredGradualDetector

    fast = DETECTOR_SETS["fast"]
    monkeypatch.setitem(DETECTOR_SETS, "fast", lambda cfg, learned: replace(
        fast(cfg, learned), detectors=tuple(
            replace(d, **changes) if isinstance(d, ScoredGradualDetector) else d
            for d in fast(cfg, learned).detectors)))


def test_a_long_dissolve_between_moving_shots_is_one_transition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dissolves of 2 s: each half's ends differ enough to score, so without ``join`` the
    scored detector reports most of them twice; joined, each once."""
    import make_motion_samples as mms

    plan = mms.MotionPlan(seed=6, fps=25)
    shots = [("coffee", "handheld"), ("astronaut", "pan"), ("coins", "zoom"),
             ("retina", "handheld"), ("rocket", "pan"), ("chelsea", "steady")]
    for (photo, motion), frames in zip(shots, (56, 60, 48, 60, 52, 0), strict=True):
        plan.shot(photo, 50, motion)
        if frames:
            plan._join(mms.JoinSpec("dissolve", frames))  # longer than .dissolve() allows
    score = _render_and_score(plan, tmp_path, "long")
    joined = score()
    # At most one dissolve still reported twice (rendering is not bit-exact from run to run:
    # see the session-5 note; an edge frame of a dissolve sometimes scores as its own).
    assert joined.fn == 0 and joined.fp <= 2, joined
    _fast_scorer_with(monkeypatch, join=0)
    halves = score()
    assert halves.fp >= joined.fp + 2, (halves, joined)


def test_comes_back_tells_an_excursion_from_a_transition() -> None:
    from media_ml.detectors.scored import comes_back

    rng = np.random.default_rng(0)
    a, x, b = (rng.dirichlet(np.ones(16), 3) for _ in range(3))
    scene_a = np.tile(np.concatenate(a) / 3, (30, 1))
    scene_x = np.tile(np.concatenate(x) / 3, (30, 1))
    scene_b = np.tile(np.concatenate(b) / 3, (30, 1))
    away_and_back = np.concatenate([scene_a, scene_x, scene_a])
    onwards = np.concatenate([scene_a, scene_x, scene_b])
    assert comes_back(away_and_back, 29, 30, reach=40, ratio=0.3)  # going away, and back
    assert comes_back(away_and_back, 59, 60, reach=40, ratio=0.3)
    assert not comes_back(onwards, 29, 30, reach=40, ratio=0.3)
    assert not comes_back(onwards, 59, 60, reach=40, ratio=0.3)
    assert not comes_back(away_and_back, 29, 30, reach=20, ratio=0.3)  # back too late


def test_objects_passing_in_front_of_the_camera_are_not_transitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large object crossing the frame for 1.5 s looks like a wipe in and a wipe out; the
    scene comes back, so it is not a transition. The real dissolve, wipe and cut are found."""
    import make_motion_samples as mms

    E = mms.Event
    plan = (mms.MotionPlan(seed=31, fps=25)
            .shot("coffee", 110, "handheld", E("occlusion", 30, 36, strength=1.0)).dissolve(20)
            .shot("astronaut", 110, "steady", E("occlusion", 40, 36, strength=-1.0))
            .wipe(16, "right")
            .shot("rocket", 110, "pan", E("occlusion", 35, 36, strength=1.0)).cut()
            .shot("chelsea", 110, "handheld", E("occlusion", 30, 36, strength=-1.0)))
    score = _render_and_score(plan, tmp_path, "occluded")
    kept = score()
    # Over the panning shot the scene does not come back exactly (two extra boundaries here;
    # one more allowed: the encoded bytes vary a little from run to run, see the session notes).
    assert kept.fn == 0 and kept.fp <= 3, kept
    _fast_scorer_with(monkeypatch, returns=0)  # the scorer's motion cues alone miss three
    assert score().fp >= kept.fp + 2


def test_a_change_of_light_is_not_a_cut() -> None:
    """The same picture darker and warmer (a lamp off, a grade change) keeps its block
    pattern; another picture, or another framing of the same scene, does not."""
    from media_ml.detectors.histograms import relit
    from media_ml.extractors.shots import _NY

    rng = np.random.default_rng(3)
    scene = rng.uniform(40, 200, video_grid_size())
    darker = scene.copy()
    darker[:_NY] = 0.6 * scene[:_NY] + 10
    other = rng.uniform(40, 200, video_grid_size())
    reframed = scene.copy()
    reframed[:_NY] = np.roll(scene[:_NY].reshape(9, 16), 4, axis=1).ravel()
    flat = np.full(video_grid_size(), 128.0)
    assert relit(np.stack([scene, darker]).astype(np.uint8), 1)
    assert not relit(np.stack([scene, other]).astype(np.uint8), 1)
    assert not relit(np.stack([scene, reframed]).astype(np.uint8), 1)
    assert not relit(np.stack([flat, flat + 40]).astype(np.uint8), 1)  # no pattern to compare


def test_a_learned_cut_that_only_light_explains_is_vetoed() -> None:
    """TransNetV2 fires on a lamp switched off; with the grid tests on, a learned cut where
    every large change nearby keeps the block pattern is dropped. A cut beside a strobe stays:
    the cut frame itself moves the pattern."""
    from media_ml.detectors.histograms import only_light
    from media_ml.extractors.shots import _NY, ShotDetectorConfig

    rng = np.random.default_rng(5)
    scene = rng.uniform(40, 200, video_grid_size())
    other = rng.uniform(40, 200, video_grid_size())
    darker = scene.copy()
    darker[:_NY] = 0.6 * scene[:_NY] + 10
    third = rng.uniform(40, 200, video_grid_size())
    grids = np.stack([scene] * 60 + [darker] * 60 + [other] * 30 + [third] * 30).astype(np.uint8)
    grids[149] = np.clip(grids[148].astype(np.float32) * 1.5, 0, 255).astype(np.uint8)  # strobe
    assert only_light(grids, 60) and only_light(grids, 61)  # placed a frame late: still light
    assert not only_light(grids, 120) and not only_light(grids, 30)  # a cut; nothing at all
    assert not only_light(grids, 149) and not only_light(grids, 150)  # a cut after a strobe
    p = np.full(180, 0.02, np.float32)
    p[[59, 119, 149]] = 0.97  # the last frames before: light at 60, cuts at 120 and 150
    ev = Evidence(grids, p)
    with_tests = LearnedDetector(flash=ShotDetectorConfig())
    assert [t.frame for t in with_tests.detect(ev, np.zeros(181, bool))] == [120, 150]
    assert [t.frame for t in LearnedDetector().detect(ev, np.zeros(181, bool))] == [60, 120, 150]


def test_a_learned_dissolve_next_to_a_found_transition_is_part_of_it() -> None:
    """A long dissolve is found in pieces: the scorer takes one part, TransNetV2's *many* head
    is confident of another a few frames on. The learned run is added only when neither it nor
    its faint tails come within ``near_frames`` of what was found."""
    many = np.full(200, 0.02, np.float32)
    many[100:110] = 0.95
    ev = Evidence(np.zeros((200, 8), np.uint8), np.full(200, 0.02, np.float32),
                  learned_many=many)
    detector = LearnedDetector(LearnedConfig(near_frames=8))

    def found(claimed: range) -> list[int]:
        blocked = np.zeros(201, bool)
        blocked[claimed.start:claimed.stop] = True
        return [t.frame for t in detector.detect(ev, blocked)]

    assert found(range(0, 0)) == [100]
    assert found(range(80, 93)) == []  # ends 7 frames before the run
    assert found(range(80, 91)) == [100]  # 9 frames before: another transition
    many[85:100] = 0.3  # the run's faint tail reaches back to it
    assert found(range(80, 81)) == []
    many[85:100] = 0.05  # below ``tail``
    assert found(range(80, 81)) == [100]
    with pytest.raises(UsageError, match="near_frames"):
        LearnedConfig(near_frames=-1)
    with pytest.raises(UsageError, match="tail"):
        LearnedConfig(tail=1.5)


def test_pieces_of_one_long_transition_are_joined() -> None:
    """A 40-frame fade found as a short dissolve (the scorer's window) and a fade a few frames
    on is one transition; a cut, or a gradual transition further than ``gradual_gap``, is not
    joined."""
    from media_ml.detectors.base import join_gradual
    from media_ml.extractors.shots import ShotDetectorConfig, Transition

    found = [Transition(100, "dissolve", 5, 0.8), Transition(110, "fade", 30, 0.9),
             Transition(200, "cut", 0, 1.0), Transition(205, "wipe", 10, 0.9),
             Transition(300, "dissolve", 10, 0.8), Transition(323, "dissolve", 20, 0.7)]
    joined = join_gradual(found, 12)
    assert [(t.frame, t.kind, t.length) for t in joined] == [
        (100, "fade", 40), (200, "cut", 0), (205, "wipe", 10), (300, "dissolve", 10),
        (323, "dissolve", 20)]
    assert join_gradual(found, 0) == found
    assert [t.frame for t in join_gradual(found, 13)] == [100, 200, 205, 300]
    # The built-in sets join pieces: the whole video's list, so chunking changes nothing.
    assert detector_set("fast").gradual_gap == ShotDetectorConfig().gradual_gap > 0
    with pytest.raises(ValueError, match="gradual_gap"):
        DetectorSet("x", detector_set("fast").detectors, gradual_gap=-1)


def video_grid_size() -> int:
    from media_ml.extractors.video import GRID_SIZE

    return GRID_SIZE


def test_ensemble_is_fast_then_what_transnetv2_is_confident_of() -> None:
    from media_ml.detectors import configure

    fast, ens = detector_set("fast"), detector_set("ensemble")
    assert ens.detectors[: len(fast.detectors)] == fast.detectors
    (extra,) = ens.detectors[len(fast.detectors):]
    assert isinstance(extra, LearnedDetector)
    assert extra.config.threshold == extra.config.many_threshold == 0.9
    shot, learned = configure(["learned.confident=0.95"])
    sure = detector_set("ensemble", shot, learned).detectors[-1]
    assert isinstance(sure, LearnedDetector) and sure.config.threshold == 0.95
    # Probabilities between 0.5 and 0.9 make a learned cut, not an ensemble one.
    p = np.full(200, 0.02, np.float32)
    p[99] = 0.8
    grids = np.zeros((200, 8), np.uint8)
    assert [t.frame for t in LearnedDetector().detect(Evidence(grids, p), np.zeros(201, bool))
            ] == [100]
    assert extra.detect(Evidence(grids, p), np.zeros(201, bool)) == []
    with pytest.raises(UsageError, match="confident"):
        configure(["learned.confident=1.5"])
