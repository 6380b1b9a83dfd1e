"""Every export a spreadsheet opens shows a cell that starts like a formula as text, never runs
it: the consent log (CSV and XLSX) and a broadcast's delivery report."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from openpyxl import load_workbook

from broadcasts.models import Broadcast, Delivery
from comune.spreadsheets import spreadsheet_cell
from privacy.exports import consent_log_csv, consent_log_xlsx
from subscribers.models import ConsentRecord, PrivacyNotice, Subscriber
from subscribers.services.consent import privacy_notice_publish, subscriber_subscribe
from tests.factories import log_in

FORMULAS = ['=HYPERLINK("http://x","click")', "+SUM(1,1)", "-2+3", "@SUM(A1)"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_becomes_text(formula):
    assert spreadsheet_cell(formula) == f"'{formula}"


@pytest.mark.parametrize("value", ["+393331234567", "-12", "42.5", "Avviso", ""])
def test_numbers_and_plain_text_are_left_alone(value):
    assert spreadsheet_cell(value) == value


def test_nothing_structures_and_instants_become_text():
    assert spreadsheet_cell(None) == ""
    assert spreadsheet_cell({"b": 1, "a": "=x"}) == '{"a": "=x", "b": 1}'
    assert spreadsheet_cell(7) == 7
    assert spreadsheet_cell(datetime(2026, 1, 5, 8, 0, tzinfo=UTC)).startswith("2026-01-05T09:00")


@pytest.fixture
def formula_notices(db):
    """One consent under each of four notice versions that read as formulas (stored before
    versions were checked: they can no longer be published)."""
    for number, version in enumerate(FORMULAS):
        notice = privacy_notice_publish(version=f"v{number}", title="Informativa", body="Testo.")
        PrivacyNotice.objects.filter(pk=notice.pk).update(version=version)
        notice.refresh_from_db()
        subscriber_subscribe(
            phone=f"+39333000000{number}",
            occurred_at=datetime(2026, 1, 5, 8, number, tzinfo=UTC),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.{number}", "text": "Iscrivimi"},
            notice=notice,
        )


def _neutralised(cells: list[str]) -> None:
    for formula in FORMULAS:
        assert f"'{formula}" in cells
        assert formula not in cells


def test_the_consent_log_csv_neutralises_formulas(formula_notices):
    rows = list(csv.reader(io.StringIO("".join(consent_log_csv(ConsentRecord.objects.all())))))
    _neutralised([cell for row in rows for cell in row])


def test_the_consent_log_xlsx_neutralises_formulas(formula_notices):
    with consent_log_xlsx(ConsentRecord.objects.all()) as output:
        sheet = load_workbook(output).active
        cells = [cell.value for row in sheet.iter_rows() for cell in row]
    _neutralised(cells)


def test_the_delivery_report_neutralises_formulas(client, db):
    boss = User.objects.create_superuser("boss", password="pw")
    broadcast = Broadcast.objects.create(
        title="Avviso", body="Testo.", category="traffic", created_by=boss, status="sent"
    )
    for number, formula in enumerate(FORMULAS):
        subscriber = Subscriber.objects.create(phone=f"+39333000000{number}")
        Delivery.objects.create(
            broadcast=broadcast,
            subscriber=subscriber,
            status="failed",
            error_title=formula,
            queued_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
    log_in(client, boss)
    response = client.get(reverse("admin:broadcasts_broadcast_report", args=[broadcast.pk]))
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    _neutralised([cell for row in csv.reader(io.StringIO(text)) for cell in row])
