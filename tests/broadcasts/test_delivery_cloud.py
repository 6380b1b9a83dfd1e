"""Delivery through the real cloud backend against a local fake Cloud API (in-process)."""

from collections import Counter

import pytest

from broadcasts import lifecycle
from broadcasts.models import Broadcast, Delivery
from broadcasts.services import fanout, sending
from tests.conftest import load_payload
from tests.fakes.cloud_api import FakeCloudAPI

pytestmark = pytest.mark.django_db

PHONES = [f"+39333100{i:04d}" for i in range(30)]


@pytest.fixture
def fake_cloud(settings):
    with FakeCloudAPI() as fake:
        settings.WHATSAPP_GATEWAY = {
            "BACKEND": "gateway.backends.cloud.CloudBackend",
            "OPTIONS": {
                "api_url": fake.url,
                "phone_number_id": "106540352242922",
                "access_token": "token",
            },
        }
        settings.BROADCAST_RETRY_BASE_SECONDS = 0.0  # retry at once in these tests
        yield fake


def start(draft, approver):
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    fanout.broadcasts_dispatch_due()
    from unittest import mock

    with mock.patch.object(fanout, "deliveries_enqueue_ranges"):
        fanout.broadcast_fan_out(broadcast_id=draft.pk)


def run_until_done(draft, rounds=10):
    for _ in range(rounds):
        sending.deliveries_send_range(broadcast_id=draft.pk, first_id=0, last_id=10**9)
        draft.refresh_from_db()
        if draft.status != Broadcast.Status.SENDING:
            return


def accepted_recipients(fake):
    return Counter(request.json["to"] for request in fake.accepted)


def test_rate_limits_and_server_errors_are_retried_and_everything_arrives_once(
    draft, approver, subscribe, fake_cloud
):
    subscribe(*PHONES)
    start(draft, approver)
    fake_cloud.fail_next(3, status=429, code=130429, message="(#130429) Rate limit hit")
    fake_cloud.fail_next(2, status=503, message="Service Unavailable")

    run_until_done(draft)

    assert accepted_recipients(fake_cloud) == Counter({phone: 1 for phone in PHONES})
    assert draft.status == Broadcast.Status.SENT
    assert not Delivery.objects.exclude(status="sent").exists()
    request = fake_cloud.accepted[0]
    assert request.headers["Authorization"] == "Bearer token"
    assert request.json["type"] == "template"
    assert request.json["template"]["name"] == "avviso_comune"


def test_an_expired_token_pauses_the_broadcast_and_resume_completes_it_without_duplicates(
    draft, approver, subscribe, fake_cloud, run_on_commit
):
    subscribe(*PHONES)
    start(draft, approver)
    token_expired = (401, {"error": {"message": "Error validating access token", "code": 190}})
    answered = []

    def expire_after_ten(request):
        answered.append(request)
        return token_expired if len(answered) > 10 else None

    fake_cloud.responder = expire_after_ten
    run_until_done(draft)

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.PAUSED
    assert "190" in draft.paused_reason and "access token" in draft.paused_reason
    assert Delivery.objects.filter(status="failed").count() == 0
    sent_before = len(fake_cloud.accepted)
    assert 1 <= sent_before <= 10

    fake_cloud.responder = None  # staff renewed the token
    with run_on_commit():
        lifecycle.broadcast_resume(broadcast=draft, actor=approver)
    run_until_done(draft)

    assert accepted_recipients(fake_cloud) == Counter({phone: 1 for phone in PHONES})
    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT
    actions = list(draft.events.values_list("action", flat=True))
    assert actions[-3:] == ["paused", "resumed", "sent"]


def test_a_paused_template_pauses_the_broadcast_at_the_first_refusal_and_resume_completes_it(
    draft, approver, subscribe, fake_cloud, run_on_commit, settings
):
    """Issue 15: Meta's 132015 (its stored answer) would meet every recipient; 30 citizens
    record no failure, only a pause that names the template."""
    subscribe(*PHONES)
    start(draft, approver)
    paused = (400, load_payload("send_error_template_paused"))
    answered = []

    def pause_after_ten(request):
        answered.append(request)
        return paused if len(answered) > 10 else None

    fake_cloud.responder = pause_after_ten
    run_until_done(draft)

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.PAUSED
    assert "132015" in draft.paused_reason and "avviso_comune" in draft.paused_reason
    assert not Delivery.objects.filter(status="failed").exists()
    assert len(answered) <= 10 + settings.BROADCAST_SEND_CONCURRENCY  # those in flight

    fake_cloud.responder = None  # Meta lifted the pause
    with run_on_commit():
        lifecycle.broadcast_resume(broadcast=draft, actor=approver)
    run_until_done(draft)

    assert accepted_recipients(fake_cloud) == Counter({phone: 1 for phone in PHONES})
    assert Broadcast.objects.get(pk=draft.pk).status == Broadcast.Status.SENT


def test_a_number_not_on_whatsapp_fails_its_row_with_metas_reason(
    draft, approver, subscribe, fake_cloud
):
    subscribe(PHONES[0])
    start(draft, approver)
    fake_cloud.fail_next(1, status=400, code=131026, message="Message undeliverable")

    run_until_done(draft)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.error_code) == ("failed", 131026)
    assert delivery.error_title == "Message undeliverable"
    assert draft.status == Broadcast.Status.SENT
