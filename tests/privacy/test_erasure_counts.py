"""Counts that history keeps (issue 17, point 6): erasing a citizen removes their rows but not
their weight in past broadcasts' figures, on the broadcast's page, the list and the dashboard."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from broadcasts import lifecycle
from broadcasts.models import Broadcast, Delivery
from broadcasts.selectors import broadcast_delivery_counts
from broadcasts.services import authoring, fanout
from privacy.erasure import subscriber_erase
from subscribers.models import Subscriber
from tests.broadcasts.steps import fan_out_without_sending
from tests.factories import log_in

pytestmark = pytest.mark.django_db

PHONES = [f"+39333200{i:04d}" for i in range(8)]


@pytest.fixture
def dpo(db) -> User:
    return User.objects.create_user(username="dpo", is_staff=True)


@pytest.fixture
def reached_eight(editor, approver, template, subscribe, run_on_commit) -> Broadcast:
    """A broadcast sent to eight citizens, through the real steps; three said delivered, one
    of them read."""
    subscribe(*PHONES)
    broadcast = authoring.broadcast_create(
        author=editor,
        title="Chiusura via Roma",
        body="Via Roma chiusa.",
        category=Broadcast.Category.TRAFFIC,
        template=template,
        template_parameters=["via Roma chiusa"],
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    with run_on_commit():
        lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    rows = Delivery.objects.filter(broadcast=broadcast).order_by("subscriber__phone")
    ids = list(rows.values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids[:3]).update(status=Delivery.Status.DELIVERED)
    Delivery.objects.filter(pk=ids[0]).update(status=Delivery.Status.READ)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    return broadcast


def _figures(client, broadcast):
    change = client.get(reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk]))
    listing = client.get(reverse("admin:broadcasts_broadcast_changelist"))
    dashboard = client.get(reverse("admin:index"))
    page = change.content.decode()
    return {
        "counts": broadcast_delivery_counts(broadcast_id=broadcast.pk),
        "page": [re.search(rf'data-count="{name}">(\d+)<', page)[1] for name in ("sent", "total")],
        "list": re.search(r'class="wa-funnel">([^<]*)<', listing.content.decode())[1],
        "dashboard": re.search(
            r"Chiusura via Roma</a></td><td>[^<]*</td>((?:<td[^>]*>\d+</td>){4})",
            dashboard.content.decode(),
        )[1],
    }


def test_erasing_citizens_leaves_a_sent_broadcasts_figures_as_they_were(
    client, admin_user, reached_eight, dpo
):
    log_in(client, admin_user)
    before = _figures(client, reached_eight)
    assert before["list"] == "8 › 3 › 1 · "
    assert before["counts"].total == 8

    subscriber_erase(phone=PHONES[0], actor=dpo)  # the one who read it
    subscriber_erase(phone=PHONES[5], actor=dpo)  # one it was only sent to

    assert Delivery.objects.filter(broadcast=reached_eight).count() == 6  # their rows are gone
    assert not Subscriber.objects.filter(phone__in=PHONES[:1] + PHONES[5:6]).exists()
    assert _figures(client, reached_eight) == before
    reached_eight.refresh_from_db()
    assert reached_eight.archived_counts == {"read": 1, "sent": 1}


def test_a_row_not_yet_sent_to_an_erased_citizen_leaves_no_figure(
    editor, approver, template, subscribe, dpo
):
    subscribe(*PHONES[:2])
    broadcast = authoring.broadcast_create(
        author=editor,
        title="Mercato",
        body="Mercato spostato.",
        category="event",
        template=template,
        template_parameters=["mercato spostato"],
    )
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    lifecycle.broadcast_approve(broadcast=broadcast, actor=approver)
    fanout.broadcasts_dispatch_due()
    fan_out_without_sending(broadcast)
    Delivery.objects.filter(broadcast=broadcast, subscriber__phone=PHONES[1]).update(
        status=Delivery.Status.SENDING
    )

    subscriber_erase(phone=PHONES[0], actor=dpo)  # still queued: never reached
    subscriber_erase(phone=PHONES[1], actor=dpo)  # in flight: may have reached them

    counts = broadcast_delivery_counts(broadcast_id=broadcast.pk)
    assert (counts.total, counts.queued, counts.unknown) == (1, 0, 1)
    assert not Delivery.objects.filter(broadcast=broadcast).exists()
