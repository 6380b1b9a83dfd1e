"""Every send takes a slot of the number's one rate limit (invariant 6): broadcasts, keyword
replies and test sends alike, since they all go through the backend `gateway.get_backend()`
builds."""

import pytest

import gateway
from broadcasts.models import StaffTestNumber
from broadcasts.services.authoring import broadcast_send_test
from gateway.ratelimit import LocalRateLimiter
from tests.conftest import text_payload

pytestmark = pytest.mark.django_db


class CountingLimiter(LocalRateLimiter):
    """The real local limiter, counting the slots it hands out."""

    def __init__(self) -> None:
        super().__init__(1000)
        self.slots = 0

    def acquire(self, *, bulk: bool = False) -> None:
        self.slots += 1
        super().acquire(bulk=bulk)


@pytest.fixture
def limiter(monkeypatch: pytest.MonkeyPatch) -> CountingLimiter:
    counting = CountingLimiter()
    monkeypatch.setattr("gateway.ratelimit.rate_limiter", lambda: counting)
    return counting


def test_a_keyword_reply_takes_a_slot(limiter, privacy_notice, post_webhook, run_on_commit):
    with run_on_commit():
        assert post_webhook(text_payload("Iscrivimi")).status_code == 200
    assert len(gateway.outbox) == 1  # the confirmation
    assert limiter.slots == 1


def test_a_test_send_takes_a_slot(limiter, draft, editor):
    number = StaffTestNumber.objects.create(phone="+393331234567", label="Io", added_by=editor)
    assert broadcast_send_test(broadcast=draft, actor=editor, test_number=number).ok
    assert limiter.slots == 1


def test_each_broadcast_send_takes_a_slot(limiter, draft, approver, subscribe, run_on_commit):
    from broadcasts import lifecycle

    subscribe("+393331111111", "+393332222222")
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    with run_on_commit():
        lifecycle.broadcast_approve(broadcast=draft, actor=approver)
    assert len(gateway.outbox) == 2
    assert limiter.slots == 2
