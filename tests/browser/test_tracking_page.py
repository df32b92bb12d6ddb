"""The tracking page in a real headless Chromium (Debian's chromium and chromium-driver,
installed by `make test-tools`), over a real worker serving it: the timeline, the ETA window, an
exception's explanation and the Spanish page, read from the DOM; screenshots at phone and
desktop widths go to .state/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from connectors.times import zone_at
from pipeline.api.config import Brand
from pipeline.api.page import messages
from pipeline.settings import REPO_ROOT
from tests.lookup_run import ALL_KEY, call, served_worker

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = REPO_ROOT / ".state" / "screenshots"
LOGO = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" role="img" '
        'aria-label="Acme Outdoor"><circle cx="20" cy="20" r="18" fill="#fff"/>'
        '<path d="M8 30 20 9l12 21z" fill="#0f766e"/></svg>')  # fmt: skip
BRAND = Brand(name="Acme Outdoor", logo_svg=LOGO, colour="#0f766e", support="help@acme.example")


@pytest.fixture(scope="module")
def served(
    kafka_bootstrap: str, clickhouse_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, ...]]:
    tmp = tmp_path_factory.mktemp("page")
    overrides = {"api_brands": {"default": BRAND}}
    with served_worker(kafka_bootstrap, clickhouse_server, tmp, **overrides) as run:
        yield run


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """browser(lang) -> a headless Chromium whose Accept-Language is `lang` first."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"not installed: {missing}; `make test-tools` installs them"
    drivers: list[Any] = []

    def launch(lang: str) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):  # fmt: skip
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},en;q=0.5"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        drivers.append(driver)
        return driver

    yield launch
    for driver in drivers:
        driver.quit()


def _views(served: Any) -> list[dict[str, Any]]:
    _, simulation, _, base = served
    numbers = sorted({s["tracking_number"] for s in simulation.shipments})
    return [call(f"{base}/v1/parcels/{n}", ALL_KEY).json() for n in numbers]


def _open(driver: Any, view: dict[str, Any], width: int, height: int) -> None:
    driver.set_window_size(width, height)
    driver.get(view["tracking_link"])


def test_timeline_and_eta_window_in_english_with_screenshots(served: Any, browser: Any) -> None:
    on_way = next(
        v for v in _views(served)
        if v["status"] != "delivered" and v["eta"] and v["eta"]["earliest"] and v["milestones"]
    )  # fmt: skip
    _, simulation, _, _ = served
    shipment = next(
        s for s in simulation.shipments if s["tracking_number"] == on_way["tracking_number"]
    )
    where = shipment["destination"]
    zone = zone_at(where["country"], where["region"], where["postal_code"])
    earliest, latest = (
        datetime.fromisoformat(on_way["eta"][k]).astimezone(zone) for k in ("earliest", "latest")
    )
    driver = browser("en")
    _open(driver, on_way, 390, 844)
    en = messages("en")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert driver.find_element(By.ID, "tracking-number").text == on_way["tracking_number"]
    eta = driver.find_element(By.ID, "eta").text
    # The window's days in the shopper's zone; a window already past reads as running late.
    if latest > datetime.now(UTC):
        assert eta.startswith("Arriving ") and earliest.strftime("%A") in eta, (eta, earliest)
    else:
        assert eta.startswith("Expected by ") and latest.strftime("%A") in eta, (eta, latest)
        assert eta.endswith("running late"), eta
    steps = driver.find_elements(By.CSS_SELECTOR, "#timeline li")
    done = [s.text for s in steps if "done" in s.get_attribute("class")]
    assert [s for s in steps if s.get_attribute("aria-current") == "step"], "a current step"
    for name in on_way["milestones"]:
        label = en["milestone"].get(name)
        if label:
            assert any(text.startswith(label) for text in done), (name, done)
    events = driver.find_elements(By.CSS_SELECTOR, "#history li")
    assert len(events) == len(on_way["events"])
    header = driver.find_element(By.TAG_NAME, "header")
    assert "Acme Outdoor" in header.text and header.find_elements(By.TAG_NAME, "svg")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"no horizontal scrolling on a phone ({width}px)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SHOTS / "tracking-phone.png"))
    _open(driver, on_way, 1280, 900)
    assert driver.save_screenshot(str(SHOTS / "tracking-desktop.png"))
    assert (SHOTS / "tracking-desktop.png").stat().st_size > 10_000


def test_an_exception_is_explained_with_what_happens_next(served: Any, browser: Any) -> None:
    troubled = next(
        v for v in _views(served) if any(e["resolved_at"] is None for e in v["exceptions"])
    )
    kind = next(e["kind"] for e in troubled["exceptions"] if e["resolved_at"] is None)
    driver = browser("en")
    _open(driver, troubled, 1280, 900)
    box = driver.find_element(By.CSS_SELECTOR, f".exception[data-kind='{kind}']")
    assert messages("en")["what_next"] in box.text
    assert messages("en")["exception"][kind] in box.text
    assert driver.save_screenshot(str(SHOTS / "tracking-exception.png"))


def test_the_spanish_page_for_a_spanish_browser(served: Any, browser: Any) -> None:
    view = _views(served)[0]
    driver = browser("es-ES")
    _open(driver, view, 390, 844)
    es = messages("es")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es"
    assert driver.find_element(By.ID, "headline").text == es["status"][view["status"]]
    assert driver.find_element(By.ID, "timeline-title").text == es["timeline"]
    eta = driver.find_element(By.ID, "eta").text
    keys = ("eta_window", "eta_day", "eta_days", "eta_passed", "eta_unknown", "eta_pending",
            "delivered_at")  # fmt: skip
    assert eta.startswith(tuple(es[k].split("{")[0] for k in keys)), eta
    assert driver.save_screenshot(str(SHOTS / "tracking-phone-es.png"))


def test_order_lookup_form_leads_to_the_order_page(served: Any, browser: Any) -> None:
    _, simulation, _, base = served
    shipment = next(s for s in simulation.shipments if s["destination"]["postal_code"])
    driver = browser("en")
    driver.get(f"{base}/track")
    driver.find_element(By.ID, "order_id").send_keys(shipment["order_id"])
    driver.find_element(By.ID, "postal_code").send_keys(shipment["destination"]["postal_code"])
    assert driver.find_element(By.CSS_SELECTOR, "label[for='order_id']").text
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    parcels = driver.find_element(By.ID, "parcels").text
    assert shipment["tracking_number"] in parcels
