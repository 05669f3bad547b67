"""Contexts: built-ins, TOML files, and the validation of every value a file can hold."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from media_ml.errors import UsageError
from media_ml.ranking.contexts import (
    BUILTIN,
    MAX_CONTEXTS,
    MAX_FILE_BYTES,
    Context,
    get_context,
    load_contexts,
)


def test_builtin_contexts_cover_the_common_surfaces() -> None:
    assert {"tv-billboard", "web-row", "mobile-boxart", "square"} <= set(BUILTIN)
    assert BUILTIN["mobile-boxart"].aspect == (2, 3) and BUILTIN["square"].aspect == (1, 1)
    assert get_context("web-row").ratio == pytest.approx(16 / 9)
    with pytest.raises(UsageError, match="unknown context 'nope'.*tv-billboard"):
        get_context("nope")


def test_contexts_from_toml_extend_and_validate(tmp_path: Path) -> None:
    f = tmp_path / "ctx.toml"
    f.write_text("""
[contexts.kids-row]
extends = "web-row"
aspect = "4:3"
min_size = "320x240"
prompts = ["a smiling face"]
[contexts.kids-row.weights]
faces = 2.5
""")
    ctx = load_contexts(f)["kids-row"]
    assert ctx.aspect == (4, 3) and ctx.min_size == (320, 240) and ctx.device == "web"
    assert ctx.weights["faces"] == 2.5 and ctx.weights["sharpness"] == 1.0
    assert get_context("kids-row", f) == ctx


@pytest.mark.parametrize("body,needle", [
    ('device = "toaster"', "device"),
    ('aspect = "wide"', "aspect"),
    ('aspect = [16, "nine"]', "integers"),
    ("min_size = 5", "min_size"),
    ('weights = {sharpness = "high"}', "weight 'sharpness'"),
    ("weights = {glow = 1.0}", "unknown signal"),
    ("prompts = 3", "prompts"),
    ('prompts = [""]', "prompts"),
    ('diversity = "lots"', "diversity"),
    ("per_shot = 0", "per_shot"),
    ("colour = 1", "unknown keys"),
])
def test_context_file_with_wrong_types_is_a_clear_error(
    tmp_path: Path, body: str, needle: str
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(f"[contexts.bad]\n{body}\n")
    with pytest.raises(UsageError, match=needle) as e:
        load_contexts(f)
    assert "bad.toml" in str(e.value)


def test_unreadable_context_files_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_contexts(tmp_path / "none.toml")
    (tmp_path / "x.toml").write_text("[[[")
    with pytest.raises(UsageError, match="TOML"):
        load_contexts(tmp_path / "x.toml")
    with pytest.raises(UsageError):
        Context("x", aspect=(0, 9))


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", ".hidden", "", "x" * 65, "a b",
                                  "tv\x00", "é"])
def test_context_names_that_cannot_be_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="context name"):
        Context(name)
    if "\0" in name:
        return  # TOML cannot hold it
    f = tmp_path / "ctx.toml"
    f.write_text(f'[contexts."{name}"]\ndevice = "tv"\n')
    with pytest.raises(UsageError, match="context name") as e:
        load_contexts(f)
    assert "ctx.toml" in str(e.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e9"])
def test_non_finite_or_huge_weights_are_refused(tmp_path: Path, value: str) -> None:
    f = tmp_path / "w.toml"
    f.write_text(f"[contexts.w]\nweights = {{faces = {value}}}\n")
    with pytest.raises(UsageError, match="weight 'faces' must be a finite number from 0 to 1000"):
        load_contexts(f)
    with pytest.raises(UsageError, match="weight 'faces'"):
        Context("w", weights={"faces": float(value)})


@pytest.mark.parametrize("key,value", [
    ("diversity", "nan"), ("diversity", "inf"), ("duplicate_threshold", "nan"),
    ("duplicate_threshold", "true"), ("per_shot", "1000000"), ("aspect", "[inf, 9]"),
    ("aspect", "[16.5, 9]"), ("min_size", '"100000x100000"'), ("aspect", "[nan, 1]"),
    ("extends", '["web-row"]'), ("prompts", '["a"' + ', "a"' * 40 + "]"),
])
def test_every_number_of_a_context_is_finite_and_bounded(
    tmp_path: Path, key: str, value: str
) -> None:
    f = tmp_path / "n.toml"
    f.write_text(f"[contexts.n]\n{key} = {value}\n")
    with pytest.raises(UsageError, match=key.split("_")[0]) as e:
        load_contexts(f)
    assert "n.toml" in str(e.value)


def test_valid_context_values_at_the_bounds_are_kept() -> None:
    ctx = Context("a.b_c-1", aspect=[16384, 1], min_size=(16384, 16384),  # type: ignore[arg-type]
                  weights={"faces": 1000}, diversity=0.0, duplicate_threshold=1.0)
    assert ctx.aspect == (16384, 1) and all(math.isfinite(w) for w in ctx.weights.values())


def test_binary_context_file_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "blob.toml"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(UsageError, match="not UTF-8") as e:
        load_contexts(f)
    assert "blob.toml" in str(e.value)


def test_huge_context_file_is_refused_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "huge.toml"
    with f.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no need to write a megabyte
    with pytest.raises(UsageError, match="more than the limit") as e:
        load_contexts(f)
    assert "huge.toml" in str(e.value)


def test_too_many_contexts_or_too_deep_nesting_are_usage_errors(tmp_path: Path) -> None:
    f = tmp_path / "many.toml"
    f.write_text("".join(f"[contexts.c{i}]\n" for i in range(MAX_CONTEXTS + 1)))
    with pytest.raises(UsageError, match=f"limit of {MAX_CONTEXTS}"):
        load_contexts(f)
    f.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(UsageError, match="TOML"):
        load_contexts(f)


def test_a_folder_is_not_a_context_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        load_contexts(tmp_path)
