"""The inbound edge against what is not quite Meta: text no database can store, bodies too
large, too slow or too many at once, a request signed twice. Each is refused with a reason (or
handled), never a 500, and nothing is read beyond the limit."""

import json

import pytest

from subscribers.models import InboundMessage, Subscriber
from tests.conftest import text_payload

pytestmark = pytest.mark.django_db

PHONE = "+393331234567"


@pytest.mark.parametrize("escaped", [r"Iscri\u0000vimi", r"Iscrivimi \ud83d", r"\udc00Iscrivimi"])
def test_a_keyword_with_nul_or_half_an_emoji_is_answered_and_handled(
    post_webhook, privacy_notice, escaped
):
    # Sent as JSON escapes, as Meta would; a 500 here made Meta redeliver it for days.
    body = json.dumps(text_payload("KEYWORD")).replace("KEYWORD", escaped).encode()

    assert post_webhook(body).status_code == 200
    assert Subscriber.objects.get(phone=PHONE).status == Subscriber.Status.ACTIVE
    assert InboundMessage.objects.get().intent == InboundMessage.Intent.SUBSCRIBE
