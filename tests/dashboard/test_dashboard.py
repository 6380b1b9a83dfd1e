import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring, fanout
from subscribers.models import ConsentRecord
from subscribers.services.consent import subscriber_subscribe, subscriber_unsubscribe
from tests.factories import MessageTemplateFactory
from webhooks.services import status_dead_letter_create

pytestmark = pytest.mark.django_db


def _consent(phone: str, *, joined_days_ago: int, left_days_ago: int | None = None) -> None:
    now = datetime.now(UTC)
    subscriber_subscribe(
        phone=phone,
        occurred_at=now - timedelta(days=joined_days_ago),
        channel=ConsentRecord.Channel.WHATSAPP,
        evidence={"message_id": f"wamid.in.{phone}", "text": "Iscrivimi"},
    )
    if left_days_ago is not None:
        subscriber_unsubscribe(
            phone=phone,
            occurred_at=now - timedelta(days=left_days_ago),
            channel=ConsentRecord.Channel.WHATSAPP,
            evidence={"message_id": f"wamid.out.{phone}", "text": "Cancellami"},
        )


@pytest.fixture
def staff_with(client):
    def login(*codenames: str) -> User:
        user = User.objects.create_user("staff", password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return user

    return login


def test_the_dashboard_counts_subscribers_and_charts_joins_and_leaves_per_day(
    client, staff_with, privacy_notice
):
    _consent("+393330000001", joined_days_ago=0)
    _consent("+393330000002", joined_days_ago=0)
    _consent("+393330000003", joined_days_ago=3, left_days_ago=1)
    _consent("+393330000004", joined_days_ago=40)
    staff_with("view_subscriber")

    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-testid="active-subscribers">3</strong>' in page
    assert "In the period: 3 joined, 1 left." in page  # the one of 40 days ago is out of it
    today = timezone.localdate().isoformat()
    assert re.search(rf'datetime="{today}">[^<]+</time></th><td>2</td><td>0</td>', page)
    assert page.count('class="bar-joins"') == 30
    assert "app-subscribers module" in page  # Django's list of apps is still there


def test_staff_choose_the_period(client, staff_with, privacy_notice):
    _consent("+393330000004", joined_days_ago=40)
    staff_with()

    page = client.get("/admin/?days=90", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert page.count('class="bar-joins"') == 90
    assert "In the period: 1 joined, 0 left." in page
    assert '<a href="?days=90" aria-current="page">90 days</a>' in page


def test_an_unknown_period_falls_back_to_thirty_days(client, staff_with):
    staff_with()

    page = client.get("/admin/?days=1000").content.decode()

    assert page.count('class="bar-joins"') == 30


def test_the_dashboard_costs_a_fixed_number_of_queries(
    client, staff_with, privacy_notice, django_assert_max_num_queries
):
    for number in range(20):
        _consent(f"+3933300001{number:02d}", joined_days_ago=number % 7)
    staff_with("view_broadcast")

    with django_assert_max_num_queries(12):
        client.get("/admin/")


def test_the_latest_broadcasts_show_their_funnel_and_one_sending_has_a_live_progress_bar(
    client, staff_with, privacy_notice, django_capture_on_commit_callbacks
):
    _consent("+393330000001", joined_days_ago=0)
    user = staff_with("view_broadcast")
    approver = User.objects.create_superuser("boss", password="pw")
    template = MessageTemplateFactory()  # the citizen is outside their 24-hour window
    sent = authoring.broadcast_create(
        author=user,
        title="Strade chiuse",
        body="Testo.",
        category=Broadcast.Category.TRAFFIC,
        template=template,
        template_parameters=["strade chiuse"],
    )
    lifecycle.broadcast_submit(broadcast=sent, actor=approver)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.broadcast_approve(broadcast=sent, actor=approver)
    sending = authoring.broadcast_create(
        author=user,
        title="Allerta meteo",
        body="Testo.",
        category=Broadcast.Category.EMERGENCY,
        template=template,
        template_parameters=["allerta meteo"],
    )
    lifecycle.broadcast_submit(broadcast=sending, actor=approver)
    lifecycle.broadcast_approve(broadcast=sending, actor=approver)
    fanout.broadcasts_dispatch_due()  # started; its fan-out waits for the commit

    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Strade chiuse</a></td><td>sent</td><td>1</td><td>0</td><td>0</td>" in page
    assert f'data-url="/admin/broadcasts/broadcast/{sending.pk}/progress/"' in page
    assert 'data-status="sending"' in page
    assert "broadcasts/status.js" in page


def test_without_permission_on_broadcasts_only_the_subscriber_figures_show(client, staff_with):
    staff_with()

    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "active subscribers" in page
    assert "Latest broadcasts" not in page


def test_in_development_the_dashboard_points_to_the_simulator(client, staff_with, settings):
    staff_with()
    settings.SIMULATOR_ENABLED = True
    assert 'href="/simulator/"' in client.get("/admin/").content.decode()
    settings.SIMULATOR_ENABLED = False
    assert 'href="/simulator/"' not in client.get("/admin/").content.decode()


def test_status_webhooks_set_aside_are_counted_for_who_may_read_them(client, staff_with):
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    status_dead_letter_create(body=body, reason="IntegrityError")
    status_dead_letter_create(body=body, reason="DataError")
    user = staff_with()
    assert "set aside" not in client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    user.user_permissions.add(Permission.objects.get(codename="view_statusdeadletter"))
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "2 status webhooks</a> could not be applied and were set aside" in page
    assert client.get("/admin/webhooks/statusdeadletter/").status_code == 200
