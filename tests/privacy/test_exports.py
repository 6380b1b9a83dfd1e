"""The privacy officer's exports, through the admin: the consent log in three formats and the
subject-access download, with the data built through the services a citizen goes through."""

import csv
import io
import json
import logging
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from openpyxl import load_workbook

import gateway
from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from roles.models import APPROVER, EDITOR, PRIVACY_OFFICER
from subscribers.models import ConsentRecord
from subscribers.services.consent import privacy_notice_publish, subscriber_subscribe
from subscribers.services.inbound import inbound_message_receive
from tests.conftest import text_payload
from tests.factories import MessageTemplateFactory, log_in
from tests.roles.conftest import member

pytestmark = pytest.mark.django_db

A, B = "+393331111111", "+393332222222"
MARCH_1 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MARCH_10 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MARCH_20 = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
EXPORT_URL = "admin:subscribers_consentrecord_export"
ACCESS_URL = "admin:subscribers_consentrecord_subject_access"


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def officer(client) -> User:
    user = member(PRIVACY_OFFICER)
    log_in(client, user)
    return user


@pytest.fixture
def consent_log(privacy_notice) -> None:
    """A joins with the keyword under notice 1.0; notice 2.0 follows; B is imported under it;
    A leaves with the keyword. The keywords are handled as they were when they arrived, in
    March (the webhook today would ignore messages that old)."""
    arrived(text_payload("Iscrivimi", phone=A[1:], wamid="wamid.a1", at=MARCH_1))
    privacy_notice_publish(version="2.0", title="Informativa", body="Testo nuovo.")
    subscriber_subscribe(
        phone=B,
        occurred_at=MARCH_10,
        channel=ConsentRecord.Channel.IMPORT,
        evidence={"user": "ufficio", "file": "iscritti.xlsx"},
    )
    arrived(text_payload("Cancellami", phone=A[1:], wamid="wamid.a2", at=MARCH_20))


def arrived(payload: dict) -> None:
    for message in gateway.parse_webhook(payload).messages:
        inbound_message_receive(message=message)


def _export(client, **params):
    return client.get(reverse(EXPORT_URL), {"format": "csv", **params})


def _csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_export_holds_number_notice_version_evidence_and_chain(
    client, officer, consent_log
):
    response = _export(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="consent-log-')
    assert "no-store" in response["Cache-Control"]
    rows = _csv_rows(response)
    assert [(r["phone"], r["action"], r["channel"], r["notice_version"]) for r in rows] == [
        (A, "granted", "whatsapp", "1.0"),
        (B, "granted", "import", "2.0"),
        (A, "withdrawn", "whatsapp", "2.0"),
    ]
    assert json.loads(rows[0]["evidence"]) == {"message_id": "wamid.a1", "text": "Iscrivimi"}
    assert json.loads(rows[1]["evidence"]) == {"user": "ufficio", "file": "iscritti.xlsx"}
    assert datetime.fromisoformat(rows[0]["occurred_at"]) == MARCH_1
    records = list(ConsentRecord.objects.order_by("sequence"))
    assert [r["hash"] for r in rows] == [record.hash for record in records]
    assert [r["previous_hash"] for r in rows] == ["", records[0].hash, records[1].hash]


def test_the_json_export_is_an_array_of_records(client, officer, consent_log):
    response = _export(client, format="json")

    assert response["Content-Type"] == "application/json; charset=utf-8"
    records = json.loads(b"".join(response.streaming_content))
    assert [(r["sequence"], r["phone"], r["notice_version"]) for r in records] == [
        (1, A, "1.0"),
        (2, B, "2.0"),
        (3, A, "2.0"),
    ]
    assert records[2]["evidence"] == {"message_id": "wamid.a2", "text": "Cancellami"}


def test_the_xlsx_export_is_a_workbook_of_the_same_rows(client, officer, consent_log):
    response = _export(client, format="xlsx")

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *rows = list(sheet.values)
    assert header[:9] == (
        "sequence",
        "occurred_at",
        "recorded_at",
        "action",
        "channel",
        "phone",
        "wa_user_id",
        "notice_version",
        "evidence",
    )
    assert [(row[0], row[3], row[5], row[7]) for row in rows] == [
        (1, "granted", A, "1.0"),
        (2, "granted", B, "2.0"),
        (3, "withdrawn", A, "2.0"),
    ]
    assert json.loads(rows[1][8]) == {"user": "ufficio", "file": "iscritti.xlsx"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"action": "withdrawn"}, [(A, "withdrawn")]),
        ({"channel": "import"}, [(B, "granted")]),
        ({"occurred_from": "2025-03-05", "occurred_to": "2025-03-15"}, [(B, "granted")]),
        ({"occurred_from": "2025-03-10"}, [(B, "granted"), (A, "withdrawn")]),
        ({"occurred_to": "2025-03-01", "action": "granted"}, [(A, "granted")]),
        ({"occurred_to": "2025-02-28"}, []),
    ],
)
def test_the_export_filters_by_day_action_and_channel(
    client, officer, consent_log, filters, expected
):
    rows = _csv_rows(_export(client, **filters))

    assert [(row["phone"], row["action"]) for row in rows] == expected


@pytest.mark.parametrize(
    "params",
    [
        {"occurred_from": "2025-03-20", "occurred_to": "2025-03-01"},
        {"occurred_from": "2025-13-45"},
        {"action": "deleted"},
        {"format": "pdf"},
    ],
)
def test_bad_filters_show_the_form_again_with_an_error(client, officer, params):
    response = _export(client, **params)

    assert response.status_code == 400
    assert response.context["form"].errors


def test_the_export_form_is_a_page_of_the_consent_log_admin(client, officer, consent_log):
    page = client.get(reverse(EXPORT_URL))
    listing = client.get(reverse("admin:subscribers_consentrecord_changelist"))

    assert page.status_code == 200
    assert set(page.context["form"].fields) == {
        "occurred_from",
        "occurred_to",
        "action",
        "channel",
        "format",
    }
    assert reverse(EXPORT_URL) in listing.content.decode()
    assert reverse(ACCESS_URL) in listing.content.decode()


def test_the_export_reads_the_log_in_one_query(
    client, officer, consent_log, django_assert_max_num_queries
):
    response = _export(client)

    with django_assert_max_num_queries(1):
        assert len(_csv_rows(response)) == 3


# --- Subject access ---------------------------------------------------------------------------


@pytest.fixture
def delivered_to_a(consent_log, django_capture_on_commit_callbacks) -> Broadcast:
    """A subscribes again and a broadcast reaches them."""
    author, approver = member(EDITOR), member(APPROVER)
    subscriber_subscribe(
        phone=A,
        occurred_at=datetime.now(UTC),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.a3", "text": "Iscrivimi"},
    )
    broadcast = authoring.broadcast_create(
        author=author,
        title="Chiusura scuole",
        body="Scuole chiuse.",
        category="emergency",
        template=MessageTemplateFactory(),  # A has not written within 24 hours
        template_parameters=["scuole chiuse"],
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=author)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    return broadcast


def test_subject_access_downloads_everything_held_about_the_number(client, officer, delivered_to_a):
    response = client.post(reverse(ACCESS_URL), {"phone": "333 111 1111"})

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="subject-access-')
    assert A[1:] not in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["phone"] == A
    assert data["subscriber"]["phone"] == A
    assert data["subscriber"]["status"] == "active"
    assert [(c["action"], c["notice_version"], c["evidence"]) for c in data["consents"]] == [
        ("granted", "1.0", {"message_id": "wamid.a1", "text": "Iscrivimi"}),
        ("withdrawn", "2.0", {"message_id": "wamid.a2", "text": "Cancellami"}),
        ("granted", "2.0", {"message_id": "wamid.a3", "text": "Iscrivimi"}),
    ]
    assert [(d["broadcast"], d["status"]) for d in data["deliveries"]] == [
        ("Chiusura scuole", "sent")
    ]
    assert [(m["message_id"], m["intent"]) for m in data["inbound_messages"]] == [
        ("wamid.a1", "subscribe"),
        ("wamid.a2", "unsubscribe"),
    ]
    assert B not in response.content.decode()


def test_subject_access_covers_messages_of_a_number_that_never_subscribed(
    client, officer, post_webhook, privacy_notice
):
    post_webhook(text_payload("Buongiorno", phone="393339999999", wamid="wamid.hello"))

    response = client.post(reverse(ACCESS_URL), {"phone": "+39 333 999 9999"})

    data = json.loads(response.content)
    assert data["subscriber"] is None
    assert data["consents"] == data["deliveries"] == []
    assert [(m["message_id"], m["keyword_text"]) for m in data["inbound_messages"]] == [
        ("wamid.hello", "")
    ]


def test_an_unknown_number_says_nothing_is_held(client, officer, consent_log):
    response = client.post(reverse(ACCESS_URL), {"phone": "3470000000"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert [str(m) for m in response.context["messages"]] == [
        "Nothing is held about this number: no subscriber, no message."
    ]


@pytest.mark.parametrize("phone", ["", "12ab", "+39 12", "x" * 40])
def test_an_invalid_number_is_a_form_error(client, officer, phone):
    response = client.post(reverse(ACCESS_URL), {"phone": phone})

    assert response.status_code == 400
    assert "phone" in response.context["form"].errors


def test_the_number_never_reaches_a_url_or_a_log_line(client, officer, consent_log, caplog):
    with caplog.at_level(logging.DEBUG):
        form = client.get(reverse(ACCESS_URL))
        response = client.post(reverse(ACCESS_URL), {"phone": A}, follow=True)

    assert 'method="post"' in form.content.decode()
    assert all(A[3:] not in url for url, _status in response.redirect_chain)
    assert A[3:] not in response.request["PATH_INFO"] + response.request["QUERY_STRING"]
    assert not [r for r in caplog.records if A[3:] in r.getMessage()]
    assert any("subject-access export by user" in r.getMessage() for r in caplog.records)


def test_others_may_not_see_the_privacy_pages(client, consent_log):
    user = User.objects.create_user(username="clerk", is_staff=True)
    user.groups.add(Group.objects.get(name=APPROVER))
    client.force_login(user)

    assert client.get(reverse(EXPORT_URL)).status_code == 403
    assert client.post(reverse(ACCESS_URL), {"phone": A}).status_code == 403
    listing = client.get(reverse("admin:subscribers_consentrecord_changelist"))
    assert listing.status_code == 403
