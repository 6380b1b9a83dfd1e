"""The status webhooks set aside, as staff read them: listed, masked, never changed."""

import json

import pytest

from gateway.testing import status_update, statuses_value, webhook_body
from tests.factories import staff
from webhooks.services import status_dead_letter_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def letter(db):
    update = status_update(
        wamid="wamid.poisoned", status="read", timestamp=1764004005, recipient_id="393331234567"
    )
    body = json.dumps(webhook_body(statuses_value(update))).encode()
    return status_dead_letter_create(body=body, reason="IntegrityError")


def test_staff_who_may_read_them_see_the_body_with_its_numbers_masked(client, letter):
    client.force_login(staff("reader", "view_statusdeadletter"))

    listing = client.get("/admin/webhooks/statusdeadletter/")
    page = client.get(f"/admin/webhooks/statusdeadletter/{letter.pk}/change/").content.decode()

    assert listing.status_code == 200 and "IntegrityError" in listing.content.decode()
    assert "wamid.poisoned" in page and "1764004005" in page
    assert "***67" in page and "393331234567" not in page
    assert client.get("/admin/webhooks/statusdeadletter/add/").status_code == 403
    response = client.post(f"/admin/webhooks/statusdeadletter/{letter.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403


def test_staff_without_the_permission_do_not_see_them(client, letter):
    client.force_login(staff("editor", "view_broadcast"))

    assert client.get("/admin/webhooks/statusdeadletter/").status_code == 403
