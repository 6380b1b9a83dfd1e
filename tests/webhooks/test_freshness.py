"""An erased citizen does not come back (issue 13, finding 7): Meta's redelivery (or a replay) of
their old signed Iscrivimi changes nothing, since messages outside the redelivery window are
ignored and a tombstone remembers, by keyed pseudonym only, when the number was erased."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from privacy.erasure import subscriber_erase
from privacy.models import ErasureTombstone
from subscribers.models import ConsentRecord, Subscriber
from tests.conftest import text_payload

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"


@pytest.fixture
def officer(db) -> User:
    return User.objects.create_user("dpo", password="pw", is_staff=True)


def test_a_redelivered_iscrivimi_of_an_erased_citizen_subscribes_nobody(
    post_webhook, privacy_notice, officer, run_on_commit
):
    iscrivimi = text_payload(
        "Iscrivimi", wamid="wamid.join", at=datetime.now(UTC) - timedelta(hours=2)
    )
    with run_on_commit():
        assert post_webhook(iscrivimi).status_code == 200
    subscriber_erase(phone=PHONE, actor=officer, reference="prot. 1")
    assert ErasureTombstone.objects.count() == 1
    assert PHONE not in str(ErasureTombstone.objects.values_list().get())

    with run_on_commit():
        assert post_webhook(iscrivimi).status_code == 200  # Meta redelivers it

    assert not Subscriber.objects.filter(phone=PHONE).exists()
    assert ConsentRecord.objects.filter(action="granted").count() == 1  # only the first


def test_a_new_iscrivimi_after_the_erasure_subscribes_again(
    post_webhook, privacy_notice, officer, run_on_commit
):
    subscriber_erase(phone=PHONE, actor=officer)
    with run_on_commit():
        later = datetime.now(UTC) + timedelta(seconds=2)  # Meta's times are whole seconds
        post_webhook(text_payload("Iscrivimi", wamid="wamid.back", at=later))

    assert Subscriber.objects.get(phone=PHONE).status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize(
    "sent", [timedelta(days=-8), timedelta(minutes=30)], ids=["older-than-a-week", "future"]
)
def test_messages_outside_the_redelivery_window_are_ignored(
    post_webhook, privacy_notice, sent, caplog
):
    payload = text_payload("Iscrivimi", wamid="wamid.stale", at=datetime.now(UTC) + sent)

    assert post_webhook(payload).status_code == 200

    assert not Subscriber.objects.exists()
    assert "outside the redelivery window" in caplog.text
