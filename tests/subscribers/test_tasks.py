"""Replies reach the citizen through the gateway, retrying what Meta asks to retry."""

from datetime import UTC, datetime

import pytest
from django.test import TestCase

import gateway
from subscribers.models import InboundMessage
from subscribers.services import inbound
from tests.fakes.cloud_api import FakeCloudAPI

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(settings):
    with FakeCloudAPI() as fake:
        settings.WHATSAPP_GATEWAY = {
            "BACKEND": "gateway.backends.cloud.CloudBackend",
            "OPTIONS": {"api_url": fake.url, "phone_number_id": "1", "access_token": "t"},
        }
        yield fake


def iscrivimi(wamid: str = "wamid.1") -> InboundMessage:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return inbound.inbound_message_receive(
            message=gateway.InboundMessage(
                message_id=wamid,
                timestamp=datetime.now(UTC),
                kind=gateway.InboundKind.TEXT,
                wa_type="text",
                phone="+393331234567",
                text="Iscrivimi",
            )
        )


def test_a_reply_meta_asks_to_retry_is_sent_once_it_accepts(privacy_notice, cloud):
    cloud.fail_next(2, status=503, message="Service temporarily unavailable")

    inbound = iscrivimi()

    inbound.refresh_from_db()
    assert len(cloud.requests) == 3
    assert len(cloud.accepted) == 1
    assert inbound.reply_wamid == "wamid.1"
    assert inbound.reply_error == ""


def test_a_reply_meta_refuses_for_good_records_why(privacy_notice, cloud):
    cloud.fail_next(1, status=400, code=131026, message="Message undeliverable")

    inbound = iscrivimi()

    inbound.refresh_from_db()
    assert len(cloud.requests) == 1
    assert inbound.reply_error == "131026 Message undeliverable"


def test_after_the_last_retry_the_error_is_recorded(privacy_notice, cloud):
    from subscribers.tasks import REPLY_MAX_RETRIES

    cloud.fail_next(REPLY_MAX_RETRIES + 1, status=503, message="Service temporarily unavailable")

    inbound = iscrivimi()

    inbound.refresh_from_db()
    assert len(cloud.requests) == REPLY_MAX_RETRIES + 1
    assert inbound.reply_error == "Service temporarily unavailable"
