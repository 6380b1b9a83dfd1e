"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Never a downloaded browser: bin/test installs Debian's `chromium` (as root) and axe-core from
package-lock.json. Locally these tests skip, saying why, when either is missing; on CI they fail.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import ON_CI
from tests.factories import authenticator

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-test-password"
PHONE_VIEWPORT = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium (skipped without it, except on CI)"
    )


def _missing(reason: str) -> None:
    if ON_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One Chromium for the package's tests, closed when they are done."""
    if not CHROMIUM.exists():
        _missing("needs Debian's Chromium at /usr/bin/chromium (bin/test installs it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("needs the playwright package (pip install -r requirements-dev.txt)")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # between browser steps are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def simulator_gateway(settings) -> None:
    """Messages go through the simulator's backend, as under bin/run."""
    settings.WHATSAPP_GATEWAY = {
        "BACKEND": "simulator.backend.SimulatorBackend",
        "OPTIONS": {"stream": io.StringIO()},
    }


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """A page in a fresh browser context (its own cookies): one per person in a flow."""
    contexts = []

    def new_page(*, locale: str = "en-US", viewport: dict | None = None):
        context = browser.new_context(
            base_url=live_server.url, locale=locale, viewport=viewport or None
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot() -> Callable:
    ARTIFACTS.mkdir(exist_ok=True)

    def screenshot(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return screenshot


@pytest.fixture
def staff_user(transactional_db) -> Callable[..., User]:
    def staff_user(username: str, *codenames: str, superuser: bool = False) -> User:
        if superuser:
            # Superusers need a second factor: theirs is set up, as the first login asks.
            user = User.objects.create_superuser(username, password=PASSWORD)
            authenticator(user)
            return user
        user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return user

    return staff_user


def log_in(page, username: str, next_url: str = "/admin/") -> None:
    """Through the admin's login form, as staff do."""
    page.goto(f"/admin/login/?next={next_url}")
    page.get_by_label(re.compile("Username|Nome utente")).fill(username)
    page.get_by_label(re.compile("Password")).fill(PASSWORD)
    device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
    if device is not None:
        page.get_by_label(re.compile("Verification code|Codice di verifica")).fill(
            _next_code(device)
        )
    page.get_by_role("button", name=re.compile("Log in|Accedi")).click()
    page.wait_for_url(f"**{next_url}")


def _next_code(device: TOTPDevice) -> str:
    """The authenticator's code, one step ahead if this step's was used by an earlier login
    (a code is accepted once; the device tolerates one step of drift)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    if totp.t() <= device.last_t:
        totp.time = time.time() + device.step
    return f"{totp.token():0{device.digits}d}"


def citizen_writes(page, phone: str, text: str) -> None:
    """In the simulator: type a number and a message, and send."""
    page.get_by_label("Citizen's number").fill(phone)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()


@pytest.fixture
def axe() -> Callable:
    """Run axe-core in the page; fail on serious or critical violations."""
    if not AXE.exists():
        _missing("needs axe-core in tests/browser/node_modules (bin/test runs npm ci)")

    def check(page) -> None:
        # Evaluated through the browser's devtools protocol: a script tag would be refused by
        # the pages' Content-Security-Policy (no inline scripts), as it should be.
        page.evaluate(AXE.read_text())
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{violation['id']} ({violation['impact']}): "
            + "; ".join(node["target"][0] for node in violation["nodes"])
            for violation in result["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{page.url}: " + " | ".join(serious)

    return check
