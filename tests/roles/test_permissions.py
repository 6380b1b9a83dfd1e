"""Least privilege: what each role may do in the admin, proved by doing it.

Each check performs the action as a member of the role and reports whether it took effect
(a row written, a download served, the full number shown); the table says what must happen.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from roles.models import ADMINISTRATOR, APPROVER, EDITOR, PRIVACY_OFFICER
from subscribers.models import ConsentRecord, PrivacyNotice, Subscriber
from tests.broadcasts.admin_pages import form_data
from tests.factories import log_in
from tests.roles.conftest import member

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"


def _author() -> User:
    author = User.objects.create_user(username="author", is_staff=True)
    author.groups.add(Group.objects.get(name=EDITOR))
    return author


def _draft(title: str = "Chiusura via Roma") -> Broadcast:
    return authoring.broadcast_create(
        author=_author(), title=title, body="Via Roma chiusa.", category=Broadcast.Category.TRAFFIC
    )


def broadcast_add(client: Client, phone: str) -> bool:
    client.post(
        reverse("admin:broadcasts_broadcast_add"),
        form_data(title="Nuovo avviso", body="Via Roma chiusa."),
    )
    return Broadcast.objects.filter(title="Nuovo avviso").exists()


def broadcast_view(client: Client, phone: str) -> bool:
    draft = _draft()
    response = client.get(reverse("admin:broadcasts_broadcast_change", args=[draft.pk]))
    return response.status_code == 200 and draft.title in response.content.decode()


def broadcast_change(client: Client, phone: str) -> bool:
    draft = _draft()
    url = reverse("admin:broadcasts_broadcast_change", args=[draft.pk])
    client.post(url, form_data(title="Titolo corretto", body="Via Roma chiusa."))
    draft.refresh_from_db()
    return draft.title == "Titolo corretto"


def broadcast_approve(client: Client, phone: str) -> bool:
    draft = _draft()
    lifecycle.broadcast_submit(broadcast=draft, actor=draft.created_by)
    url = reverse("admin:broadcasts_broadcast_lifecycle", args=[draft.pk, "approve"])
    # Without a template, and the subscriber outside their window: for those inside it only.
    client.post(url, {"scheduled_at_0": "", "scheduled_at_1": "", "audience": "window_only"})
    draft.refresh_from_db()
    return draft.status != Broadcast.Status.AWAITING_APPROVAL


def consent_export(client: Client, phone: str) -> bool:
    response = client.get(reverse("admin:subscribers_consentrecord_export"), {"format": "csv"})
    return response.status_code == 200 and response.streaming


def subject_access(client: Client, phone: str) -> bool:
    url = reverse("admin:subscribers_consentrecord_subject_access")
    response = client.post(url, {"phone": phone})
    return response.status_code == 200 and response["Content-Type"].startswith("application/json")


def full_number_shown(client: Client, phone: str) -> bool:
    subscriber = Subscriber.objects.get(phone=phone)
    response = client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    return response.status_code == 200 and phone in response.content.decode()


def consent_change(client: Client, phone: str) -> bool:
    record = ConsentRecord.objects.get()
    url = reverse("admin:subscribers_consentrecord_change", args=[record.pk])
    response = client.post(url, {"action": ConsentRecord.Action.WITHDRAWN})
    return response.status_code != 403 or ConsentRecord.objects.get().action != record.action


def consent_delete(client: Client, phone: str) -> bool:
    record = ConsentRecord.objects.get()
    url = reverse("admin:subscribers_consentrecord_delete", args=[record.pk])
    response = client.post(url, {"post": "yes"})
    return response.status_code != 403 or not ConsentRecord.objects.exists()


def privacy_notice_add(client: Client, phone: str) -> bool:
    data = {"version": "2.0", "title": "Informativa", "body": "Nuovo testo."}
    client.post(reverse("admin:subscribers_privacynotice_add"), data)
    return PrivacyNotice.objects.filter(version="2.0", is_current=True).exists()


ACTIONS: list[Callable[[Client, str], bool]] = [
    broadcast_view,
    broadcast_add,
    broadcast_change,
    broadcast_approve,
    consent_export,
    subject_access,
    full_number_shown,
    consent_change,
    consent_delete,
    privacy_notice_add,
]

Y, N = True, False
# fmt: off
MATRIX = {
    #                 view add  change approve export access number c.change c.delete notice
    EDITOR:          (Y,   Y,   Y,     N,      N,     N,     N,     N,       N,       N),
    APPROVER:        (Y,   Y,   Y,     Y,      N,     N,     N,     N,       N,       N),
    PRIVACY_OFFICER: (Y,   N,   N,     N,      Y,     Y,     Y,     N,       N,       Y),
    ADMINISTRATOR:   (Y,   Y,   Y,     Y,      Y,     Y,     Y,     N,       N,       Y),
    SUPERUSER:       (Y,   Y,   Y,     Y,      Y,     Y,     Y,     N,       N,       Y),
}
# fmt: on


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        pytest.param(role, action, allowed, id=f"{role}-{action.__name__}")
        for role, row in MATRIX.items()
        for action, allowed in zip(ACTIONS, row, strict=True)
    ],
)
def test_each_role_may_do_only_its_own_work(client, citizen, role, action, allowed):
    if role == SUPERUSER:
        user = User.objects.create_superuser(username="root", password=None)
    else:
        user = member(role)
    log_in(client, user)

    assert action(client, citizen) is allowed


def test_the_roles_are_groups_with_the_permissions_they_need():
    def codenames(role: str) -> set[str]:
        return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))

    assert "approve_broadcast" not in codenames(EDITOR)
    assert "approve_broadcast" in codenames(APPROVER)
    assert not {code for code in codenames(EDITOR) | codenames(APPROVER) if "subscriber" in code}
    assert {"export_consentrecord", "subject_access", "erase_subscriber"} <= codenames(
        PRIVACY_OFFICER
    )
    # The privacy officer reads broadcasts, never writes, approves or sends one; and imports
    # citizens with their consent evidence (the import needs add_subscriber).
    assert {code for code in codenames(PRIVACY_OFFICER) if code.endswith("broadcast")} == {
        "view_broadcast"
    }
    assert "add_subscriber" in codenames(PRIVACY_OFFICER)
    assert codenames(ADMINISTRATOR) == set(Permission.objects.values_list("codename", flat=True))


def test_a_number_is_masked_for_staff_who_do_not_answer_access_requests(client, citizen):
    viewer = User.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_subscriber"))
    client.force_login(viewer)
    subscriber = Subscriber.objects.get(phone=citizen)

    page = client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))
    listing = client.get(reverse("admin:subscribers_subscriber_changelist"))

    assert page.status_code == listing.status_code == 200
    assert citizen not in page.content.decode()
    assert subscriber.masked_address in page.content.decode()
    assert citizen not in listing.content.decode()
    assert subscriber.masked_address in listing.content.decode()
