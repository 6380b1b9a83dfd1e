"""A citizen who changed number, as the privacy officer meets them: their whole trail answers
a subject access request for the new number, and erasing it leaves a log that verifies."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from privacy.erasure import subscriber_erase
from privacy.exports import subject_access_document
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services.consent import subscriber_number_change

pytestmark = pytest.mark.django_db

OLD, NEW = "+393331234567", "+393339876543"


@pytest.fixture
def moved(subscribe) -> Subscriber:
    subscribe(OLD)
    return subscriber_number_change(
        phone=OLD,
        wa_user_id=None,
        new_phone=NEW,
        new_user_id=None,
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
        evidence={"message_id": "wamid.moved", "kind": "number_changed"},
    )


def verify() -> str:
    out = StringIO()
    call_command("verify_consent_log", stdout=out)
    return out.getvalue()


def test_subject_access_for_the_new_number_holds_the_whole_trail(moved):
    document = subject_access_document(phone=NEW)

    assert [consent["action"] for consent in document["consents"]] == [
        "granted",
        "number_changed",
    ]
    # No row and no record are held under the old number any more.
    assert subject_access_document(phone=OLD) is None


def test_erasing_the_new_number_leaves_a_log_that_verifies(moved):
    erasure = subscriber_erase(phone=NEW, actor=User.objects.create_user("dpo", is_staff=True))

    assert erasure.consent_withdrawn
    assert list(ConsentRecord.objects.order_by("sequence").values_list("action", flat=True)) == [
        "granted",
        "number_changed",
        "withdrawn",
    ]
    assert Subscriber.objects.get().phone is None
    assert "Consent log intact: 3 records" in verify()
