"""Meta's errors as Meta means them (issue 15, point 4), as staff and citizens observe them: a
refused template pauses the broadcast at the first answer, the marketing cap waits a day a
bounded number of times, the pair limit seconds, free text refused for a user id goes as the
template, and a citizen who stopped marketing messages gets no marketing template until they
resume. Meta's answers and webhooks come from the stored payloads."""

from datetime import UTC, datetime, timedelta

import pytest

import gateway
from broadcasts import lifecycle
from broadcasts.models import Broadcast, BroadcastEvent, Delivery
from broadcasts.services import authoring
from broadcasts.services.sending import RANGE_RETRY_MAX_SECONDS, deliveries_send_range
from broadcasts.services.statuses import deliveries_apply_statuses
from gateway.backends.locmem import LocmemBackend
from gateway.errors import send_error_from_response
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_subscribe
from tests.broadcasts.steps import sending
from tests.conftest import load_payload
from tests.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

# The stored payloads' citizen, and two more.
GIULIA, B, C = "+393338888888", "+393332222222", "+393333333333"
Status = Delivery.Status


def meta_answers(monkeypatch, payload: str, *, to: type | None = None) -> list:
    """Meta answers every send (of type `to`, if given) with a stored error body; the others
    are accepted. Returns every message that reached the fake Meta."""
    error = send_error_from_response(load_payload(payload), 400)
    reached: list = []
    accept = LocmemBackend._send

    def answer(self, message):
        reached.append(message)
        if to is None or isinstance(message, to):
            return gateway.SendResult(message=message, error=error)
        return accept(self, message)

    monkeypatch.setattr(LocmemBackend, "_send", answer)
    return reached


def send_all(broadcast):
    return deliveries_send_range(broadcast_id=broadcast.pk, first_id=0, last_id=10**9)


def statuses_of(payload: str, delivery: Delivery, *, at: datetime | None = None):
    """A stored status webhook about this delivery's message."""
    body = load_payload(payload)
    [status] = body["entry"][0]["changes"][0]["value"]["statuses"]
    status.update(id=delivery.wamid, biz_opaque_callback_data=f"d:{delivery.pk}")
    if at is not None:
        status["timestamp"] = str(int(at.timestamp()))
    return gateway.parse_webhook(body).statuses


def marketing_draft(author, name="eventi_comune"):
    template = MessageTemplateFactory(name=name, category="MARKETING")
    return authoring.broadcast_create(
        author=author,
        title="Sagra del paese",
        body="Sabato la sagra in piazza.",
        category=Broadcast.Category.EVENT,
        template=template,
        template_parameters=["sabato la sagra in piazza"],
    )


# --- A refused template ----------------------------------------------------------------------


def test_a_refused_template_pauses_the_broadcast_at_the_first_answer_and_the_rest_goes_on_resume(
    draft, approver, subscribe, monkeypatch, settings, whatsapp_outbox
):
    settings.BROADCAST_SEND_CONCURRENCY = 1  # one send after the other: "the first" is exact
    subscribe(GIULIA, B, C)  # two days ago: outside the window, only the template reaches them
    sending(draft, approver)
    reached = meta_answers(monkeypatch, "send_error_template_paused")

    send_all(draft)

    assert len(reached) == 1  # not one refusal per citizen
    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.PAUSED
    assert "avviso_comune" in draft.paused_reason and "132015" in draft.paused_reason
    paused = draft.events.get(action=BroadcastEvent.Action.PAUSED)
    assert paused.note == draft.paused_reason and paused.actor is None
    rows = Delivery.objects.filter(broadcast=draft)
    assert set(rows.values_list("status", "attempts")) == {(Status.QUEUED, 0)}

    monkeypatch.undo()  # the template is fixed with Meta
    lifecycle.broadcast_resume(broadcast=draft, actor=approver)
    send_all(draft)

    assert sorted(m.to for m in whatsapp_outbox) == [B, C, GIULIA]
    assert all(isinstance(m, gateway.TemplateMessage) for m in whatsapp_outbox)
    assert set(rows.values_list("status", flat=True)) == {Status.SENT}
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


def test_a_template_refused_after_it_was_accepted_pauses_a_sent_broadcast_and_resends_the_row(
    draft, approver, subscribe, whatsapp_outbox
):
    subscribe(GIULIA, B)
    sending(draft, approver)
    send_all(draft)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT
    refused = Delivery.objects.get(subscriber__phone=GIULIA)

    deliveries_apply_statuses(statuses=statuses_of("status_failed_template_disabled", refused))

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.PAUSED
    assert "132016" in draft.paused_reason
    refused.refresh_from_db()
    assert (refused.status, refused.error_code) == (Status.QUEUED, 132016)
    actions = list(draft.events.values_list("action", flat=True))
    assert actions[-2:] == [BroadcastEvent.Action.RETRYING, BroadcastEvent.Action.PAUSED]

    lifecycle.broadcast_resume(broadcast=draft, actor=approver)
    send_all(draft)

    assert sorted(m.to for m in whatsapp_outbox) == [B, GIULIA, GIULIA]
    refused.refresh_from_db()
    assert refused.status == Status.SENT and refused.error_code is None
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


# --- The marketing cap and the pair limit ----------------------------------------------------


def test_the_marketing_cap_is_tried_again_a_day_later_a_bounded_number_of_times(
    draft, approver, subscribe, monkeypatch, settings
):
    settings.BROADCAST_MARKETING_LIMIT_RETRIES = 2
    subscribe(GIULIA)
    sending(draft, approver)
    reached = meta_answers(monkeypatch, "send_error_marketing_limit")
    before = datetime.now(UTC)

    outcome = send_all(draft)

    row = Delivery.objects.get()
    assert row.status == Status.QUEUED and row.error_code == 131049  # staff see why it waits
    assert row.next_attempt_at >= before + timedelta(hours=24)
    assert outcome.retry_in == RANGE_RETRY_MAX_SECONDS  # the task wakes, finds nothing due
    send_all(draft)
    assert len(reached) == 1  # not sooner than a day
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENDING

    for tries in (2, 3):
        Delivery.objects.update(next_attempt_at=datetime.now(UTC))  # a day later
        send_all(draft)
        assert len(reached) == tries

    row.refresh_from_db()
    assert (row.status, row.error_code, row.error_retryable) == (Status.FAILED, 131049, True)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


def test_the_marketing_cap_reported_by_a_status_webhook_waits_a_day_too(
    draft, approver, subscribe, whatsapp_outbox
):
    subscribe(GIULIA)
    sending(draft, approver)
    send_all(draft)
    row = Delivery.objects.get()
    failed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=25)
    capped = statuses_of("status_failed_marketing_limit", row, at=failed_at)

    deliveries_apply_statuses(statuses=capped)
    deliveries_apply_statuses(statuses=capped)  # Meta redelivers: nothing more changes

    row.refresh_from_db()
    assert (row.status, row.error_code) == (Status.QUEUED, 131049)
    assert row.next_attempt_at == failed_at + timedelta(hours=24)
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENDING
    # A late step of the message Meta failed does not pass for the next one.
    late = gateway.StatusUpdate(message_id=row.wamid, status="delivered", timestamp=failed_at)
    deliveries_apply_statuses(statuses=[late])
    assert Delivery.objects.get().status == Status.QUEUED

    send_all(draft)  # a day has passed since Meta's answer

    assert [m.to for m in whatsapp_outbox] == [GIULIA, GIULIA]
    assert Delivery.objects.get().status == Status.SENT
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


def test_the_pair_limit_is_tried_again_in_seconds(draft, approver, subscribe, monkeypatch):
    subscribe(GIULIA)
    sending(draft, approver)
    meta_answers(monkeypatch, "send_error_pair_rate_limit")
    before = datetime.now(UTC)

    outcome = send_all(draft)

    row = Delivery.objects.get()
    assert row.status == Status.QUEUED and row.attempts == 1
    assert before + timedelta(seconds=10) <= row.next_attempt_at
    assert row.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=10)
    assert outcome.retry_in is not None and outcome.retry_in <= 10


# --- Free text refused for a WhatsApp user id -------------------------------------------------


def subscribe_by_user_id(user_id: str) -> Subscriber:
    """A citizen known only by their WhatsApp user id (a username), who wrote a minute ago."""
    now = datetime.now(UTC)
    subscriber, _outcome = subscriber_subscribe(
        phone=None,
        wa_user_id=user_id,
        occurred_at=now - timedelta(minutes=1),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": f"wamid.{user_id}", "text": "Iscrivimi"},
    )
    Subscriber.objects.filter(pk=subscriber.pk).update(last_inbound_at=now - timedelta(minutes=1))
    return subscriber


def test_free_text_refused_for_a_user_id_goes_as_the_template(
    draft, approver, privacy_notice, monkeypatch, whatsapp_outbox
):
    subscribe_by_user_id("IT.1502938475610293")
    sending(draft, approver)
    reached = meta_answers(monkeypatch, "send_error_user_id_not_allowed", to=gateway.TextMessage)

    send_all(draft)

    assert [type(m) for m in reached] == [gateway.TextMessage, gateway.TemplateMessage]
    [template] = whatsapp_outbox
    assert (template.to, template.name) == ("IT.1502938475610293", "avviso_comune")
    assert Delivery.objects.get().status == Status.SENT


def test_free_text_refused_for_a_user_id_without_a_template_fails_saying_why(
    editor, approver, privacy_notice, monkeypatch, whatsapp_outbox
):
    subscribe_by_user_id("IT.1502938475610293")
    text_only = authoring.broadcast_create(
        author=editor, title="Avviso", body="Il municipio è chiuso.", category="public_utility"
    )
    sending(text_only, approver)
    meta_answers(monkeypatch, "send_error_user_id_not_allowed")

    send_all(text_only)

    row = Delivery.objects.get()
    assert (row.status, row.error_code, row.error_retryable) == (Status.FAILED, 131062, False)
    assert row.error_title.startswith("Only a template may go to this WhatsApp user")
    assert whatsapp_outbox == []


# --- Marketing stopped: the user_preferences webhook and 131050 -------------------------------


def test_a_citizen_who_stops_marketing_is_skipped_for_marketing_templates_until_they_resume(
    draft, editor, approver, subscribe, post_webhook, whatsapp_outbox
):
    subscribe(GIULIA, B)

    assert post_webhook(load_payload("user_preferences_marketing_stop")).status_code == 200

    event = marketing_draft(editor)
    sending(event, approver)
    send_all(event)
    skipped = Delivery.objects.get(broadcast=event, subscriber__phone=GIULIA)
    assert skipped.status == Status.SKIPPED
    assert skipped.error_title == "The citizen stopped marketing messages on WhatsApp"
    assert [m.to for m in whatsapp_outbox] == [B]
    # What is not marketing still reaches them.
    sending(draft, approver)
    send_all(draft)
    assert sorted(m.to for m in whatsapp_outbox[1:]) == [B, GIULIA]

    assert post_webhook(load_payload("user_preferences_marketing_resume")).status_code == 200
    # The stop redelivered after the resume is older: it changes nothing.
    assert post_webhook(load_payload("user_preferences_marketing_stop")).status_code == 200

    assert Subscriber.objects.get(phone=GIULIA).marketing_stopped_at is None
    again = marketing_draft(editor, name="eventi_estate")
    sending(again, approver)
    send_all(again)
    assert sorted(m.to for m in whatsapp_outbox[3:]) == [B, GIULIA]


def test_131050_from_a_send_records_the_stop_for_the_next_marketing_templates(
    draft, editor, approver, subscribe, monkeypatch, whatsapp_outbox
):
    subscribe(GIULIA)
    event = marketing_draft(editor)
    sending(event, approver)
    meta_answers(monkeypatch, "send_error_marketing_opt_out")

    send_all(event)

    row = Delivery.objects.get(broadcast=event)
    assert (row.status, row.error_code, row.error_retryable) == (Status.FAILED, 131050, False)
    assert Subscriber.objects.get().marketing_stopped_at is not None
    monkeypatch.undo()
    sending(draft, approver)  # a utility template still goes
    send_all(draft)
    second = marketing_draft(editor, name="eventi_estate")
    sending(second, approver)
    send_all(second)
    assert [(m.to, m.name) for m in whatsapp_outbox] == [(GIULIA, "avviso_comune")]
    assert Delivery.objects.get(broadcast=second).status == Status.SKIPPED


def test_131050_in_a_status_webhook_records_the_stop_at_metas_time(
    editor, approver, subscribe, whatsapp_outbox
):
    subscribe(GIULIA)
    event = marketing_draft(editor)
    sending(event, approver)
    send_all(event)
    row = Delivery.objects.get()

    deliveries_apply_statuses(statuses=statuses_of("status_failed_marketing_opt_out", row))

    row.refresh_from_db()
    assert (row.status, row.error_code) == (Status.FAILED, 131050)
    stopped_at = datetime.fromtimestamp(1764004200, tz=UTC)  # the payload's time
    assert Subscriber.objects.get().marketing_stopped_at == stopped_at


def test_a_template_refused_after_its_broadcast_was_cancelled_fails_the_row(
    draft, approver, subscribe
):
    subscribe(GIULIA, B)
    sending(draft, approver)
    deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9, max_rows=1)
    lifecycle.broadcast_cancel(broadcast=draft, actor=approver)
    refused = Delivery.objects.get(status=Status.SENT)

    deliveries_apply_statuses(statuses=statuses_of("status_failed_template_disabled", refused))

    refused.refresh_from_db()
    assert (refused.status, refused.error_code, refused.error_retryable) == (
        Status.FAILED,
        132016,
        True,
    )
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.CANCELLED
