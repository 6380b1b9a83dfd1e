"""Masked numbers stay masked (issue 13, finding 10): staff without subject access cannot filter
the subscribers, their messages or the consent log by number or user id, which would rebuild a
number digit by digit."""

import pytest
from django.urls import reverse

from tests.factories import log_in, staff

pytestmark = pytest.mark.django_db

PAGES = [
    ("admin:subscribers_subscriber_changelist", "phone__startswith"),
    ("admin:subscribers_subscriber_changelist", "wa_user_id__contains"),
    ("admin:subscribers_inboundmessage_changelist", "phone__startswith"),
    ("admin:subscribers_consentrecord_changelist", "subscriber__phone__startswith"),
]
VIEW = ("view_subscriber", "view_inboundmessage", "view_consentrecord")


@pytest.mark.parametrize(("page", "lookup"), PAGES)
def test_staff_without_subject_access_cannot_filter_by_number(client, subscribe, page, lookup):
    subscribe("+393331234567")
    client.force_login(staff("curioso", *VIEW))

    response = client.get(reverse(page), {lookup: "+39333"})

    assert response.status_code == 400
    assert b"1234567" not in response.content


@pytest.mark.parametrize(("page", "lookup"), PAGES[:3])
def test_the_privacy_officer_may(client, subscribe, page, lookup):
    subscribe("+393331234567")
    log_in(client, staff("dpo", *VIEW, "subject_access"))

    assert client.get(reverse(page), {lookup: "+39333"}).status_code == 200
