"""A sent broadcast's progress, failures, retries and delivery report in the admin."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast, Delivery
from tests.broadcasts.admin_pages import (
    A,
    B,
    C,
    buttons,
    change_url,
    make_draft,
    masked,
    press,
    shown_messages,
)
from tests.factories import staff

pytestmark = pytest.mark.django_db


# --- Delivery progress, failures and report --------------------------------------------------


@pytest.fixture
def sent_broadcast(editor, approver, template, subscribers, django_capture_on_commit_callbacks):
    broadcast = make_draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    # Meta later says one citizen could not get it, for a reason worth another try.
    Delivery.objects.filter(subscriber__phone=B).update(
        status=Delivery.Status.FAILED,
        failed_at=timezone.now(),
        error_code=131000,
        error_title="Something went wrong",
        error_retryable=True,
    )
    Delivery.objects.filter(subscriber__phone=C).update(
        status=Delivery.Status.READ, read_at=timezone.now()
    )
    broadcast.refresh_from_db()
    return broadcast


def test_the_change_page_lists_failures_with_masked_numbers(client, approver, sent_broadcast):
    client.force_login(approver)

    response = client.get(change_url(sent_broadcast))

    page = response.content.decode()
    assert masked(B) == "+39••••••••22"
    assert masked(B) in page
    assert "131000" in page and "Something went wrong" in page
    for phone in (A, B, C):
        assert phone not in page
    assert buttons(response) == {"retry"}
    assert reverse("admin:broadcasts_broadcast_report", args=[sent_broadcast.pk]) in page


def test_retrying_the_failed_ones_sends_them_again(
    client, approver, sent_broadcast, whatsapp_outbox, django_capture_on_commit_callbacks
):
    whatsapp_outbox.clear()
    client.force_login(approver)

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, sent_broadcast, "retry")

    assert shown_messages(response) == [("success", "1 failed deliveries queued again.")]
    assert [message.to for message in whatsapp_outbox] == [B]


def test_the_csv_report_has_one_row_per_delivery_with_masked_numbers(
    client, approver, sent_broadcast
):
    client.force_login(approver)

    response = client.get(reverse("admin:broadcasts_broadcast_report", args=[sent_broadcast.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0][:3] == ["number", "status", "sent at"]
    by_number = {row[0]: row for row in rows[1:]}
    # A leading "'" keeps spreadsheets from reading "+39…" as a formula.
    assert set(by_number) == {f"'{masked(A)}", f"'{masked(B)}", f"'{masked(C)}"}
    assert by_number[f"'{masked(B)}"][1] == "failed"
    assert by_number[f"'{masked(B)}"][6:] == ["131000", "Something went wrong"]
    for phone in (A, B, C, A[1:], B[1:], C[1:]):
        assert phone not in content


def test_the_progress_endpoint_gives_counts_and_status(client, editor, sent_broadcast):
    client.force_login(editor)

    response = client.get(reverse("admin:broadcasts_broadcast_progress", args=[sent_broadcast.pk]))

    assert response.json() == {
        "status": "sent",
        "status_display": "sent",
        "paused_reason": "",
        "total": 3,
        "queued": 0,
        "sent": 1,
        "delivered": 0,
        "read": 1,
        "failed": 1,
        "unknown": 0,
        "skipped": 0,
        "done": 3,
        "percent_done": 100,
    }


def test_a_sending_broadcast_page_polls_its_progress(client, editor, sent_broadcast):
    Broadcast.objects.filter(pk=sent_broadcast.pk).update(status=Broadcast.Status.SENDING)
    Delivery.objects.filter(subscriber__phone=A).update(status=Delivery.Status.QUEUED)
    client.force_login(editor)

    page = client.get(change_url(sent_broadcast)).content.decode()

    assert 'data-status="sending"' in page
    assert 'aria-valuenow="67"' in page
    assert "broadcasts/status.js" in page


def test_editors_see_per_recipient_rows_only_where_the_comune_allows_it(
    client, editor, sent_broadcast, settings
):
    """Issue 13, finding 19: every editor could list who failed and download the report."""
    report = reverse("admin:broadcasts_broadcast_report", args=[sent_broadcast.pk])
    client.force_login(editor)

    page = client.get(change_url(sent_broadcast)).content.decode()
    assert masked(B) not in page and report not in page
    assert "Failed deliveries" not in page
    assert client.get(report).status_code == 403

    settings.BROADCAST_REPORT_ROWS_FOR_EDITORS = True
    assert masked(B) in client.get(change_url(sent_broadcast)).content.decode()
    assert client.get(report).status_code == 200


def test_progress_and_report_need_permission_to_view_broadcasts(client, sent_broadcast):
    client.force_login(staff("someone_else"))
    urls = [
        reverse(f"admin:broadcasts_broadcast_{name}", args=[sent_broadcast.pk])
        for name in ("progress", "report")
    ]

    assert [client.get(url).status_code for url in urls] == [403, 403]
    client.logout()
    assert client.get(urls[0]).status_code == 302  # to the admin login


def test_the_list_shows_each_broadcasts_funnel_in_one_query(
    client, editor, sent_broadcast, django_assert_max_num_queries
):
    for number in range(5):
        make_draft(editor, title=f"Bozza {number}")
    client.force_login(editor)

    # Session, user, permissions, two counts, the date hierarchy's two, and one page of
    # broadcasts with their funnels: the same however many broadcasts and deliveries there are.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("admin:broadcasts_broadcast_changelist"))

    page = response.content.decode()
    assert '<span class="wa-funnel">2 › 1 › 1 · <span class="wa-failed">1</span></span>' in page
    assert page.count("Bozza") == 5
