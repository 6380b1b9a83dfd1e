"""The staff side of broadcasts, through the admin's own pages, as editors and approvers use it.

Tasks run in-process: an approval, once committed, fans out and sends to the locmem outbox.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast, Delivery, MessageTemplate
from broadcasts.services import authoring
from gateway.formatting import template_fill, template_placeholder_count, whatsapp_to_html
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe
from tests.broadcasts.conftest import staff

pytestmark = pytest.mark.django_db

A, B, C = "+393331111111", "+393332222222", "+393333333333"


@pytest.fixture
def client(client):
    """The admin in English: the assertions read the source strings, whatever translation ships."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def subscribers(privacy_notice) -> list[Subscriber]:
    """Three citizens subscribed with the keyword two days ago, through the real service."""
    return [
        subscriber_subscribe(
            phone=phone,
            occurred_at=datetime.now(UTC) - timedelta(days=2),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.{phone}", "text": "Iscrivimi"},
        )[0]
        for phone in (A, B, C)
    ]


@pytest.fixture
def two_parameter_template() -> MessageTemplate:
    return MessageTemplate.objects.create(
        name="chiusura_strada",
        language="it",
        status="APPROVED",
        body="Chiusura di {{1}} il giorno {{2}}.",
    )


def _draft(author: User, template: MessageTemplate | None = None, **fields) -> Broadcast:
    values = {
        "title": "Chiusura via Roma",
        "body": "Via Roma chiusa *domani* dalle 8 alle 18.",
        "category": Broadcast.Category.TRAFFIC,
        "template": template,
        "template_parameters": ["via Roma chiusa domani"] if template else [],
        **fields,
    }
    return authoring.broadcast_create(author=author, **values)


def _form_data(**overrides) -> dict:
    data = {
        "title": "Chiusura via Roma",
        "body": "Via Roma chiusa *domani*.",
        "category": Broadcast.Category.TRAFFIC,
        "priority": Broadcast.Priority.NORMAL,
        "template": "",
        "template_parameters": "",
        "media_url": "",
        "is_public": "on",
        "scheduled_at_0": "",
        "scheduled_at_1": "",
    }
    return {**data, **overrides}


def masked(phone: str) -> str:
    return Subscriber.objects.get(phone=phone).masked_address


def change_url(broadcast: Broadcast) -> str:
    return reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])


def action_url(broadcast: Broadcast, action: str) -> str:
    return reverse("admin:broadcasts_broadcast_lifecycle", args=[broadcast.pk, action])


def shown_messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


def buttons(response) -> set[str]:
    """The lifecycle buttons the change page offers."""
    return {item["action"].name for item in response.context["lifecycle_actions"]}


def press(client, broadcast: Broadcast, action: str, **data):
    return client.post(action_url(broadcast, action), data, follow=True)


# --- Writing a broadcast ---------------------------------------------------------------------


def test_an_editor_writes_a_draft_and_submits_it(client, editor, template):
    client.force_login(editor)

    response = client.post(
        reverse("admin:broadcasts_broadcast_add"),
        _form_data(template=template.pk, template_parameters="via Roma chiusa\n"),
        follow=True,
    )

    broadcast = Broadcast.objects.get()
    assert response.status_code == 200
    assert (broadcast.status, broadcast.created_by) == (Broadcast.Status.DRAFT, editor)
    assert broadcast.template_parameters == ["via Roma chiusa"]
    assert list(broadcast.events.values_list("action", flat=True)) == ["created"]

    response = client.get(change_url(broadcast))
    assert buttons(response) == {"submit", "cancel"}

    response = press(client, broadcast, "submit")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("success", "Submitted for approval.")]
    # The editor may not approve: no such button, and nothing to save any more.
    assert "approve" not in buttons(response)
    assert response.context["show_save"] is False
    assert "submitted for approval" in response.content.decode()


def test_a_draft_can_be_edited_but_a_submitted_broadcast_cannot(client, editor):
    broadcast = _draft(editor)
    client.force_login(editor)

    client.post(change_url(broadcast), _form_data(title="Nuovo titolo"), follow=True)
    broadcast.refresh_from_db()
    assert broadcast.title == "Nuovo titolo"

    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    response = client.post(change_url(broadcast), _form_data(title="Cambiato dopo"), follow=True)

    broadcast.refresh_from_db()
    assert broadcast.title == "Nuovo titolo"
    assert shown_messages(response) == [("error", "Only a draft can be changed.")]


def test_the_editor_cannot_approve_even_by_posting(client, editor):
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(editor)

    response = press(client, broadcast, "approve")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "You do not have permission for “Approve”.")]


def test_an_approver_cannot_approve_what_they_wrote(client, approver):
    broadcast = _draft(approver)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=approver)
    client.force_login(approver)

    page = client.get(change_url(broadcast))
    response = press(client, broadcast, "approve")

    assert "approve" not in buttons(page)
    assert "Another person must approve what you wrote." in page.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "Another person must approve what you wrote.")]


def test_approval_sends_to_every_active_subscriber(
    client,
    editor,
    approver,
    template,
    subscribers,
    whatsapp_outbox,
    django_capture_on_commit_callbacks,
):
    broadcast = _draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)
    assert buttons(client.get(change_url(broadcast))) == {"approve", "reject", "cancel"}

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, broadcast, "approve", scheduled_at="")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert broadcast.approved_by == approver
    assert shown_messages(response) == [("success", "Approved: sending starts now.")]
    assert sorted(message.to for message in whatsapp_outbox) == [A, B, C]
    assert whatsapp_outbox[0].rendered_body() == "Avviso dal Comune: via Roma chiusa domani"
    page = client.get(change_url(broadcast)).content.decode()
    assert 'data-count="sent">3<' in page
    assert "approved" in page and "sending started" in page


def test_approval_warns_when_the_messaging_limit_spreads_delivery(
    client, editor, approver, subscribers, settings
):
    settings.WHATSAPP_MESSAGING_LIMIT = 2
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)
    later = timezone.localtime() + timedelta(days=1)

    response = press(client, broadcast, "approve", scheduled_at=later.strftime("%Y-%m-%dT%H:%M"))

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED
    assert broadcast.scheduled_at == later.replace(second=0, microsecond=0)
    levels = dict(shown_messages(response))
    assert "3 citizens are subscribed" in levels["warning"]
    assert "about 2 days" in levels["warning"]
    assert levels["success"].startswith("Approved: it will be sent at ")


def test_approval_for_a_time_in_the_past_is_refused(client, editor, approver):
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "approve", scheduled_at="2020-01-01T08:00")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.AWAITING_APPROVAL
    assert shown_messages(response) == [("error", "This time is in the past.")]


def test_an_approver_returns_a_broadcast_to_draft(client, editor, approver):
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "reject", note="Manca l'orario")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert shown_messages(response) == [("success", "Returned to draft.")]
    assert "Manca l&#x27;orario" in response.content.decode()


def test_an_emergency_goes_out_in_one_step_from_its_author(
    client, approver, subscribers, whatsapp_outbox, django_capture_on_commit_callbacks
):
    broadcast = _draft(
        approver,
        title="Allerta meteo",
        body="*Allerta rossa*: restate in casa.",
        category=Broadcast.Category.EMERGENCY,
        priority=Broadcast.Priority.EMERGENCY,
    )
    client.force_login(approver)
    assert "emergency" in buttons(client.get(change_url(broadcast)))

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, broadcast, "emergency")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert shown_messages(response) == [("success", "Emergency approved: sending starts now.")]
    assert len(whatsapp_outbox) == 3


def test_the_emergency_button_is_only_for_emergencies(client, approver):
    broadcast = _draft(approver)
    client.force_login(approver)

    assert "emergency" not in buttons(client.get(change_url(broadcast)))
    response = press(client, broadcast, "emergency")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert shown_messages(response) == [
        ("error", "Only an emergency can be approved and sent in one step.")
    ]


def test_an_approver_cancels_and_the_broadcast_becomes_read_only(client, editor, approver):
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(approver)

    response = press(client, broadcast, "cancel")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED
    assert shown_messages(response) == [("success", "Cancelled.")]
    assert buttons(response) == set()
    assert response.context["show_save"] is False
    assert "adminform" in response.context
    assert not response.context["adminform"].form.fields  # every field is read-only

    again = press(client, broadcast, "cancel")
    assert [level for level, _ in shown_messages(again)] == ["error"]


def test_pause_shows_the_reason_and_resume_carries_on(client, editor, approver):
    broadcast = _draft(editor)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(
        broadcast=broadcast, actor=approver, scheduled_at=timezone.now() + timedelta(days=1)
    )
    client.force_login(approver)
    assert buttons(client.get(change_url(broadcast))) == {"pause", "cancel"}

    response = press(client, broadcast, "pause", reason="Ordinanza da correggere")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.PAUSED
    assert shown_messages(response) == [("success", "Paused.")]
    assert buttons(response) == {"resume", "cancel"}
    page = response.content.decode()
    assert "Sending is paused." in page
    assert "Ordinanza da correggere" in page

    response = press(client, broadcast, "resume")

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.APPROVED
    assert shown_messages(response)[0][0] == "success"


def test_a_broadcast_paused_by_an_expired_token_says_why(client, editor, approver):
    broadcast = _draft(editor)
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=Broadcast.Status.PAUSED,
        paused_reason="190 Error validating access token: Session has expired",
        started_at=timezone.now(),
    )
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert "Sending is paused." in page
    assert "Session has expired" in page


def test_lifecycle_urls_take_only_post(client, editor):
    broadcast = _draft(editor)
    client.force_login(editor)

    assert client.get(action_url(broadcast, "submit")).status_code == 405
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT


# --- Form validation -------------------------------------------------------------------------


def _add(client, **data):
    return client.post(reverse("admin:broadcasts_broadcast_add"), _form_data(**data))


def errors_of(response, field: str) -> list[str]:
    return response.context["adminform"].form.errors.get(field, [])


def test_a_bad_second_template_parameter_is_named(client, editor, two_parameter_template):
    client.force_login(editor)

    response = _add(
        client, template=two_parameter_template.pk, template_parameters="via Roma\nlunedì\t12"
    )

    assert response.status_code == 200
    assert not Broadcast.objects.exists()
    assert errors_of(response, "template_parameters") == [
        "Parameter 2 contains a tab or a new line."
    ]


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ("via Roma", "Template chiusura_strada (it) needs 2 parameters, not 1."),
        ("via Roma\nlunedì     12", "Parameter 2 has more than 4 spaces in a row."),
        ("via Roma\n" + "x" * 1025, "Parameter 2 is 1025 characters long: at most 1024."),
        ("via Roma\n\nmartedì", "Parameter 2 is empty."),
    ],
)
def test_template_parameters_follow_metas_rules(
    client, editor, two_parameter_template, parameters, error
):
    client.force_login(editor)

    response = _add(client, template=two_parameter_template.pk, template_parameters=parameters)

    assert error in errors_of(response, "template_parameters")
    assert not Broadcast.objects.exists()


def test_the_text_is_required_without_a_template_and_limited_in_length(client, editor):
    client.force_login(editor)

    empty = _add(client, body="")
    too_long = _add(client, body="a" * 4097)

    assert errors_of(empty, "body") == ["Write the text, or choose a template."]
    assert errors_of(too_long, "body") == [
        "The text is 4097 characters long: WhatsApp allows 4096."
    ]
    assert 'class="wa-count wa-over"' in too_long.content.decode()  # the count shows red
    assert not Broadcast.objects.exists()


def test_a_template_alone_is_enough(client, editor, template):
    client.force_login(editor)

    _add(client, body="", template=template.pk, template_parameters="strade chiuse")

    assert Broadcast.objects.get().body == ""


def test_a_template_meta_has_not_approved_is_refused(client, editor, template):
    template.status = "PENDING"
    template.save()
    client.force_login(editor)

    response = _add(client, template=template.pk, template_parameters="x")

    assert errors_of(response, "template") == [
        "Template avviso_comune (it) is not approved by Meta (status: PENDING)."
    ]


def test_a_send_time_in_the_past_is_refused(client, editor):
    client.force_login(editor)

    response = _add(client, scheduled_at_0="01/01/2020", scheduled_at_1="08:00:00")

    assert errors_of(response, "scheduled_at") == ["This time is in the past."]


# --- Preview ---------------------------------------------------------------------------------


def test_whatsapp_formatting_becomes_safe_html():
    html = whatsapp_to_html("*Bold* _italic_ ~gone~ ```co*d*e``` <script>alert(1)</script> & 2*3*4")

    assert html == (
        "<strong>Bold</strong> <em>italic</em> <s>gone</s> <code>co*d*e</code> "
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 2*3*4"
    )


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("* not bold*", "* not bold*"),
        ("snake_case_name", "snake_case_name"),
        ("*a\nb*", "*a<br>b*"),
        ("*_both_*", "<strong><em>both</em></strong>"),
        ("<b>*x*</b>", "&lt;b&gt;<strong>x</strong>&lt;/b&gt;"),
        ('"*q*"', "&quot;<strong>q</strong>&quot;"),
    ],
)
def test_formatting_follows_whatsapps_rules(text, html):
    assert whatsapp_to_html(text) == html


def test_template_placeholders_are_counted_and_filled():
    body = "Chiusura di {{1}} il {{2}}; ancora {{1}}."

    assert template_placeholder_count(body) == 2
    assert template_fill(body, ["via Roma", "lunedì"]) == (
        "Chiusura di via Roma il lunedì; ancora via Roma."
    )


def test_the_change_page_previews_the_text_as_whatsapp_shows_it(client, editor):
    broadcast = _draft(editor, body="*Strada chiusa* <script>alert(1)</script>")
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert '<div class="wa-bubble" data-wa-bubble="body"><strong>Strada chiusa</strong> ' in page
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "broadcasts/preview.js" in page
    assert "<span data-wa-length>41</span> / 4096 characters" in page


def test_a_submitted_broadcast_shows_its_preview_read_only(client, editor, template):
    broadcast = _draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert "<strong>domani</strong>" in page
    assert "Avviso dal Comune: via Roma chiusa domani" in page
    assert 'name="body"' not in page


# --- Delivery progress, failures and report --------------------------------------------------


@pytest.fixture
def sent_broadcast(editor, approver, template, subscribers, django_capture_on_commit_callbacks):
    broadcast = _draft(editor, template)
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
    client, editor, sent_broadcast
):
    client.force_login(editor)

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
        _draft(editor, title=f"Bozza {number}")
    client.force_login(editor)

    # Session, user, permissions, two counts, the date hierarchy's two, and one page of
    # broadcasts with their funnels: the same however many broadcasts and deliveries there are.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("admin:broadcasts_broadcast_changelist"))

    page = response.content.decode()
    assert '<span class="wa-funnel">2 › 1 › 1 · <span class="wa-failed">1</span></span>' in page
    assert page.count("Bozza") == 5


# --- A test to my number ---------------------------------------------------------------------


def test_an_editor_sends_a_test_to_their_number(client, editor, template, whatsapp_outbox):
    broadcast = _draft(editor, template)
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_send_test", args=[broadcast.pk])

    response = client.post(url, {"phone": "333 444 5566"}, follow=True)

    assert shown_messages(response) == [("success", "Test sent: check your WhatsApp.")]
    assert [message.to for message in whatsapp_outbox] == ["+393334445566"]
    assert "3334445566" not in response.redirect_chain[-1][0]
    assert broadcast.events.filter(action="test sent").exists()


def test_an_invalid_test_number_is_a_form_error(client, editor, whatsapp_outbox):
    broadcast = _draft(editor)
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_send_test", args=[broadcast.pk])

    response = client.post(url, {"phone": "12"})

    assert response.status_code == 400
    assert response.context["form"].errors["phone"] == ["This is not a valid phone number."]
    assert whatsapp_outbox == []


# --- Templates -------------------------------------------------------------------------------


def test_templates_are_read_only(client, template):
    admin = User.objects.create_superuser("admin", password="pw")
    client.force_login(admin)

    listing = client.get(reverse("admin:broadcasts_messagetemplate_changelist"))
    detail = client.get(reverse("admin:broadcasts_messagetemplate_change", args=[template.pk]))
    add = client.get(reverse("admin:broadcasts_messagetemplate_add"))

    assert "avviso_comune" in listing.content.decode()
    assert 'name="body"' not in detail.content.decode()
    assert "Avviso dal Comune: {{1}}" in detail.content.decode()
    assert add.status_code == 403
