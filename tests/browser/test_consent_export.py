"""The privacy officer downloads the consent log: the proof of who accepted which notice."""

from django.urls import reverse

from tests.browser.conftest import citizen_writes, log_in


def test_the_privacy_officer_downloads_the_consent_log(
    new_page, staff_user, privacy_notice, screenshot, tmp_path
):
    url = reverse("admin:subscribers_consentrecord_export")
    staff_user("officer", superuser=True)
    page = new_page()
    log_in(page, "officer", next_url="/simulator/")
    citizen_writes(page, "333 123 4567", "Iscrivimi")

    page.goto(url)
    page.get_by_label("format").select_option("csv")
    screenshot(page, "privacy-consent-export")
    with page.expect_download() as download:
        page.locator('input[type="submit"]').click()

    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".csv"
    log = saved.read_text(encoding="utf-8-sig")
    assert "+393331234567" in log
    assert "granted" in log
