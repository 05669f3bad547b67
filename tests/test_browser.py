"""The editor's page in a real browser: Playwright driving Debian's chromium against a real
uvicorn server on a real library. Screenshots of each page go to ``test-artifacts/``
(``MEDIA_ML_ARTIFACTS`` to put them elsewhere)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_ml.library import Library

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("MEDIA_ML_ARTIFACTS", ROOT / "test-artifacts"))
TOKEN = "browser-token-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(samples_dir: Path, tiny_model_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from helpers import free_port, uvicorn_server

    from media_ml.service import ServiceConfig, create_app

    root = tmp_path_factory.mktemp("browser") / "lib"
    with Library(root) as lib:
        rep = lib.ingest([samples_dir / "faces.mp4", samples_dir / "cuts.mp4",
                          samples_dir / "bikes.mp4"], model="tiny-test:untrained",
                         model_config=str(tiny_model_dir), workers=0, progress=False)
        assert not rep.failed
    port = free_port()
    with uvicorn_server(create_app(ServiceConfig(library=root, port=port, token=TOKEN)),
                        port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package "
                    "chromium); or run `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


def _wait(page, selector: str, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    """``page.wait_for_selector``, but a timeout says what the page showed instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout)
    except PlaywrightTimeout:
        shown = page.evaluate("""() => ({hash: location.hash,
            status: (document.querySelector('#status') || {}).textContent,
            dialog: !!document.querySelector('dialog[open]'),
            view: (document.querySelector('#view') || document.body).innerText.slice(0, 1500)})""")
        pytest.fail(f"{selector!r} did not appear; the page showed {shown!r}")


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def test_search_open_a_title_accept_and_see_it_after_a_reload(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}#token={TOKEN}")
    _wait(page, "#grid .tile img")
    assert "token" not in page.url  # the token left the address bar
    _shot(page, "browse")
    page.fill("#q", "a face in a crowd")
    page.press("#q", "Enter")
    page.wait_for_function("location.hash.startsWith('#/search?q=') && "
                           "document.querySelector('h1').textContent.includes('a face') && "
                           "document.querySelectorAll('#grid .tile').length > 3")
    tiles = page.locator("#grid .tile")
    assert tiles.count() > 3
    assert page.locator("h1").inner_text() == "“a face in a crowd”"
    _shot(page, "search")
    # "more like this" from a tile
    page.locator("#grid .tile .more").first.click()
    page.wait_for_function("location.hash.startsWith('#/similar/') && "
                           "document.querySelectorAll('#grid .tile.query').length === 1 && "
                           "document.querySelectorAll('#grid .tile').length > 2")
    assert page.locator("h1").inner_text().startswith("more like still")
    _shot(page, "similar")
    # open a title (deep link per title and context)
    page.goto(f"{server}#/title/1?context=mobile-boxart")
    _wait(page, "#cards .card img")
    assert page.locator(".strip .frame").count() >= 3
    assert page.locator(".tabs a.active").inner_text().startswith("mobile-boxart")
    first = page.locator("#cards .card").first
    cid = first.get_attribute("data-candidate")
    first.locator("button.accept").click()
    _wait(page, f'.card[data-candidate="{cid}"].accept')
    _shot(page, "title")
    page.reload()
    _wait(page, "#cards .card img")
    card = page.locator(f'.card[data-candidate="{cid}"]')
    assert "accept" in (card.get_attribute("class") or "")
    assert card.locator(".badge").inner_text().lower() == "accepted"


def test_keyboard_shortcuts(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}#token={TOKEN}")
    page.goto(f"{server}#/title/1?context=web-row")
    _wait(page, "#cards .card img")
    _wait(page, "p.note")
    assert page.locator("p.note").count() == 1  # one render, even when two routes raced
    cards = page.locator("#cards .card")
    assert cards.count() >= 3
    assert "selected" in (cards.nth(0).get_attribute("class") or "")
    page.keyboard.press("ArrowRight")
    assert "selected" in (cards.nth(1).get_attribute("class") or "")
    second = cards.nth(1).get_attribute("data-candidate")
    page.keyboard.press("r")
    _wait(page, f'.card[data-candidate="{second}"].reject')
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("a")
    _wait(page, ".card.accept")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    _shot(page, "shortcuts")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    page.reload()  # the rejected picture is not proposed again; the count says so
    _wait(page, "#cards .card img")
    assert page.locator(f'.card[data-candidate="{second}"]').count() == 0
    assert page.locator("p.note").inner_text().startswith("1 rejected")


def test_writes_without_the_token_ask_for_it(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}#/title/2?context=square")  # a new browser context: no token stored
    assert page.evaluate("localStorage.length") == 0
    _wait(page, "#cards .card img")
    page.locator("#cards .card button.accept").first.click()
    _wait(page, "#token-dialog[open]")
    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    _wait(page, "#cards .card.accept")


def test_filters_and_deep_links(page, server: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}#token={TOKEN}")
    page.goto(f"{server}#/?faces_min=1&video=1")
    _wait(page, "#grid .tile")
    assert page.locator("#f-faces").is_checked()
    assert page.locator("#f-video").input_value() == "1"
    n = page.locator("#grid .tile").count()
    assert n >= 1
    assert set(page.locator("#grid .tile").evaluate_all(
        "ts => ts.map(t => t.dataset.video)")) == {"1"}
