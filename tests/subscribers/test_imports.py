"""Importing a phone's broadcast list through the admin: a preview that names every bad row and
writes nothing, then a confirmation that subscribes the good rows with proof of consent."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import privacy_notice_publish, subscriber_subscribe

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:subscribers_subscriber_import")
CONFIRM_URL = reverse("admin:subscribers_subscriber_process_import")
CSV_FORMAT, XLSX_FORMAT = "0", "1"
SUBSCRIBED = "+393339999999"
HEADER = "phone,consent_date,consent_evidence,notice_version"
ROWS = [
    "333 123 4567,2024-03-15,modulo cartaceo n. 123,",  # 1 good, national form
    '0039 333 7654321,15/03/2024 10:30,"messaggio WhatsApp del 15/03/2024",1.0',  # 2 good
    "12345,2024-03-15,modulo n. 5,",  # 3 not a number
    "+39 333 123 4567,2024-03-16,modulo n. 6,",  # 4 the number of row 1 again
    f"{SUBSCRIBED},2024-03-15,modulo n. 7,",  # 5 already subscribed
    "+39 333 5550001,2024-03-15,,",  # 6 no evidence
    "+39 333 5550002,2999-01-01,modulo n. 9,",  # 7 in the future
    "+39 333 5550003,ieri,modulo n. 10,",  # 8 not a date
    "+39 333 5550004,2024-03-15,modulo n. 11,9.9",  # 9 unknown notice version
]


@pytest.fixture
def client(client):
    """The admin in English: the assertions read the source strings."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def officer(client, privacy_notice) -> User:
    user = User.objects.create_user(username="dpo", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["add_subscriber", "view_subscriber"])
    )
    client.force_login(user)
    return user


@pytest.fixture
def already_subscribed(privacy_notice) -> str:
    subscriber_subscribe(
        phone=SUBSCRIBED,
        occurred_at=datetime.now(UTC) - timedelta(days=3),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.x", "text": "Iscrivimi"},
    )
    return SUBSCRIBED


def upload(client, name: str, content: bytes, file_format: str):
    return client.post(
        IMPORT_URL,
        {"format": file_format, "import_file": SimpleUploadedFile(name, content)},
    )


def confirm(client, preview):
    return client.post(CONFIRM_URL, preview.context["confirm_form"].initial, follow=True)


def reasons(preview) -> dict[int, list[str]]:
    return {
        row.number: [
            str(message) for errors in row.field_specific_errors.values() for message in errors
        ]
        for row in preview.context["result"].invalid_rows
    }


def test_the_preview_names_every_bad_row_and_writes_nothing(client, officer, already_subscribed):
    csv = "\n".join([HEADER, *ROWS]).encode()

    preview = upload(client, "lista.csv", csv, CSV_FORMAT)

    assert preview.status_code == 200
    assert reasons(preview) == {
        3: ["This is not a valid phone number."],
        4: ["The same number is on row 1."],
        5: ["Already subscribed."],
        6: ['Say how the citizen consented (e.g. "modulo cartaceo n. 123").'],
        7: ["The consent date is in the future."],
        8: ["This is not a date: write it as 2024-03-15 or 15/03/2024."],
        9: ["No privacy notice has version 9.9."],
    }
    page = preview.content.decode()
    assert "Rows that will not be imported" in page
    assert "The same number is on row 1." in page
    assert "Confirm import" in page
    assert Subscriber.objects.count() == 1  # only the one subscribed before
    assert ConsentRecord.objects.count() == 1


def test_confirming_subscribes_the_good_rows_with_the_user_and_file_as_evidence(
    client, officer, already_subscribed
):
    preview = upload(client, "lista.csv", "\n".join([HEADER, *ROWS]).encode(), CSV_FORMAT)

    done = confirm(client, preview)

    assert done.status_code == 200
    assert "Import finished: 2 subscribed" in done.content.decode()
    imported = ConsentRecord.objects.filter(channel=ConsentRecord.Channel.IMPORT).order_by(
        "evidence__row"
    )
    assert [(r.subscriber.phone, r.action, r.evidence) for r in imported] == [
        (
            "+393331234567",
            ConsentRecord.Action.GRANTED,
            {
                "imported_by": {"id": officer.pk, "username": "dpo"},
                "file": "lista.csv",
                "row": 1,
                "evidence": "modulo cartaceo n. 123",
            },
        ),
        (
            "+393337654321",
            ConsentRecord.Action.GRANTED,
            {
                "imported_by": {"id": officer.pk, "username": "dpo"},
                "file": "lista.csv",
                "row": 2,
                "evidence": "messaggio WhatsApp del 15/03/2024",
            },
        ),
    ]
    first, second = imported
    # A date alone is the start of that day in the comune's time zone.
    assert timezone.localtime(first.occurred_at).isoformat() == "2024-03-15T00:00:00+01:00"
    assert timezone.localtime(second.occurred_at).isoformat() == "2024-03-15T10:30:00+01:00"
    assert first.subscriber.status == Subscriber.Status.ACTIVE
    assert second.notice.version == "1.0"
    assert Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).count() == 3


def test_an_older_notice_version_is_recorded_as_the_one_accepted(client, officer):
    privacy_notice_publish(version="2.0", title="Informativa", body="Nuovo testo.")
    rows = ["+39 333 1234567,2024-03-15,modulo n. 1,1.0", "+39 333 7654321,2024-03-15,modulo n. 2,"]
    csv = "\n".join([HEADER, *rows]).encode()

    confirm(client, upload(client, "lista.csv", csv, CSV_FORMAT))

    versions = dict(ConsentRecord.objects.values_list("subscriber__phone", "notice__version"))
    assert versions == {"+393331234567": "1.0", "+393337654321": "2.0"}


def test_an_xlsx_file_with_numeric_and_date_cells_is_read(client, officer):
    book = Workbook()
    sheet = book.active
    sheet.append(["phone", "consent_date", "consent_evidence", "notice_version"])
    sheet.append([3331234567, datetime(2024, 3, 15, 9, 30), "modulo cartaceo n. 1", None])
    sheet.append(["+39 333 7654321", datetime(2024, 3, 15), None, None])
    content = io.BytesIO()
    book.save(content)

    preview = upload(client, "lista.xlsx", content.getvalue(), XLSX_FORMAT)
    assert reasons(preview) == {
        2: ['Say how the citizen consented (e.g. "modulo cartaceo n. 123").']
    }
    assert not Subscriber.objects.exists()

    confirm(client, preview)

    record = ConsentRecord.objects.get()
    assert record.subscriber.phone == "+393331234567"
    assert record.channel == ConsentRecord.Channel.IMPORT
    assert record.evidence["file"] == "lista.xlsx"


def test_a_citizen_who_wrote_in_between_is_not_imported(client, officer):
    csv = f"{HEADER}\n+39 333 1234567,2024-03-15,modulo n. 1,\n".encode()
    preview = upload(client, "lista.csv", csv, CSV_FORMAT)
    subscriber_subscribe(
        phone="+393331234567",
        occurred_at=datetime.now(UTC),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": "wamid.y", "text": "Iscrivimi"},
    )

    done = confirm(client, preview)

    assert "Import finished: 0 subscribed, 1 rows not imported." in done.content.decode()
    assert ConsentRecord.objects.get().channel == ConsentRecord.Channel.WHATSAPP


def test_a_confirmation_without_its_preview_asks_for_the_file_again(client, officer):
    preview = upload(client, "lista.csv", f"{HEADER}\n{ROWS[0]}\n".encode(), CSV_FORMAT)
    data = {**preview.context["confirm_form"].initial, "import_file_name": "forged"}

    done = client.post(CONFIRM_URL, data, follow=True)

    assert done.status_code == 200
    assert "The preview has expired: upload the file again." in done.content.decode()
    assert not Subscriber.objects.exists()


def test_without_the_add_permission_there_is_no_import(client, privacy_notice):
    viewer = User.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_subscriber"))
    client.force_login(viewer)

    assert client.get(IMPORT_URL).status_code == 403
    assert (
        b"import_link" not in client.get(reverse("admin:subscribers_subscriber_changelist")).content
    )


def test_the_upload_page_says_which_columns_it_needs(client, officer):
    page = client.get(IMPORT_URL)

    assert page.status_code == 200
    assert "consent_evidence" in page.content.decode()
    assert b"import_link" in client.get(reverse("admin:subscribers_subscriber_changelist")).content


def test_imported_consents_verify(client, officer):
    """Issue 13, finding 5: an import's dates carry the comune's offset; the log still verifies."""
    rows = [
        "+39 333 1234567,15/03/2024 10:30,modulo n. 1,",
        "+39 333 7654321,2024-08-01,modulo n. 2,",
    ]
    csv = "\n".join([HEADER, *rows]).encode()
    confirm(client, upload(client, "lista.csv", csv, CSV_FORMAT))
    assert ConsentRecord.objects.filter(channel=ConsentRecord.Channel.IMPORT).count() == 2

    out = io.StringIO()
    call_command("verify_consent_log", stdout=out)

    assert "Consent log intact: 2 records" in out.getvalue()
