"""Four eyes that tell (issue 17, point 1): a submission reaches the approvers who may approve it,
by e-mail and on the dashboard, emergencies first; the author hears of approval, scheduling,
sending, a return to draft (its note at the top of the page) and a pause on a fault. Each staff
member turns e-mail on or off. The mails are Italian and carry no citizen's number."""

import re
from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from broadcasts import lifecycle
from broadcasts.models import Broadcast
from broadcasts.services import authoring
from roles.services import notification_preference_set
from tests.broadcasts.admin_pages import A, B, change_url, make_draft
from tests.broadcasts.test_delivery_cloud import fake_cloud, run_until_done, start  # noqa: F401
from tests.factories import staff

pytestmark = pytest.mark.django_db

EDITOR = ("add_broadcast", "change_broadcast", "view_broadcast")
NUMBER_LIKE = re.compile(r"\d{6,}")


def _with_email(user, address: str | None = None):
    user.email = address or f"{user.get_username()}@comune.example"
    user.save(update_fields=["email"])
    return user


@pytest.fixture
def people(editor, approver, emergency_sender):
    """An author, two who may approve, and an editor and a privacy officer who may not: all with
    an e-mail address."""
    other_editor = staff("redattrice", *EDITOR)
    privacy_officer = staff("dpo", "view_broadcast", "view_subscriber")
    for user in (editor, approver, emergency_sender, other_editor, privacy_officer):
        _with_email(user)
    return {
        "author": editor,
        "approver": approver,
        "mayor": emergency_sender,
        "editor": other_editor,
        "dpo": privacy_officer,
    }


def _to(messages) -> list[str]:
    return sorted(address for message in messages for address in message.to)


def test_a_submission_is_mailed_to_those_who_may_approve_it_and_to_nobody_else(
    people, run_on_commit
):
    draft = make_draft(people["author"], title="Chiusura via Roma")

    with run_on_commit():
        lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])

    # Neither the author, nor an editor, nor the privacy officer: they cannot approve it.
    assert _to(mail.outbox) == ["approver@comune.example", "sindaco@comune.example"]
    message = mail.outbox[0]
    assert message.subject == "In attesa della tua approvazione: Chiusura via Roma"
    assert "editor ha inviato per l'approvazione “Chiusura via Roma” (viabilità)" in message.body
    assert change_url(draft) in message.body
    assert "Importance" not in message.extra_headers


def test_an_approver_who_changed_the_content_is_not_asked_to_approve_it(people, run_on_commit):
    draft = make_draft(people["author"])
    authoring.broadcast_update_draft(
        broadcast=draft, actor=people["approver"], changes={"title": "Via Roma chiusa"}
    )

    with run_on_commit():
        lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])

    assert _to(mail.outbox) == ["sindaco@comune.example"]


def test_an_emergency_is_marked_as_such_and_goes_on_the_emergency_queue(people, run_on_commit):
    emergency = authoring.broadcast_create(
        author=people["author"],
        title="Allerta meteo",
        body="Allerta rossa: restate in casa.",
        category=Broadcast.Category.EMERGENCY,
    )

    with mock.patch.object(lifecycle, "enqueue") as enqueue, run_on_commit():
        lifecycle.broadcast_submit(broadcast=emergency, actor=people["author"])
    (call,) = enqueue.call_args_list
    assert call.args[0] == "broadcasts.tasks.broadcast_step_notify"
    assert call.kwargs == {"queue": "emergency"}

    with run_on_commit():
        lifecycle.broadcast_reject(broadcast=emergency, actor=people["approver"], note="")
    mail.outbox.clear()
    with run_on_commit():
        lifecycle.broadcast_submit(broadcast=emergency, actor=people["author"])

    message = next(m for m in mail.outbox if m.to == ["approver@comune.example"])
    assert message.subject == "[EMERGENZA] In attesa della tua approvazione: Allerta meteo"
    assert message.body.startswith("EMERGENZA: leggila prima di ogni altra cosa.")
    assert message.extra_headers["Importance"] == "high"


def test_who_turned_email_off_gets_none_but_the_dashboard_still_shows_it(
    client, people, run_on_commit
):
    notification_preference_set(user=people["approver"], email=False)
    draft = make_draft(people["author"], title="Mercato spostato")

    with run_on_commit():
        lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])

    assert _to(mail.outbox) == ["sindaco@comune.example"]
    client.force_login(people["approver"])
    page = client.get(reverse("admin:index")).content.decode()
    assert "Waiting for you" in page
    assert "Mercato spostato" in page


def test_waiting_for_you_lists_emergencies_first_and_only_for_those_who_may_approve(client, people):
    older = make_draft(people["author"], title="Mercato spostato")
    lifecycle.broadcast_submit(broadcast=older, actor=people["author"])
    emergency = authoring.broadcast_create(
        author=people["author"],
        title="Allerta meteo",
        body="Allerta.",
        category=Broadcast.Category.EMERGENCY,
    )
    lifecycle.broadcast_submit(broadcast=emergency, actor=people["author"])

    client.force_login(people["approver"])
    page = client.get(reverse("admin:index")).content.decode()
    box = page.split('id="dashboard-waiting-title"')[1].split("</section>")[0]
    assert box.index("Allerta meteo") < box.index("Mercato spostato")
    assert re.search(r'class="dashboard-emergency-badge">EMERGENCY</span> <a[^>]*>Allerta', box)

    for who in ("editor", "dpo", "author"):  # no approver, or wrote them both (four eyes)
        client.force_login(people[who])
        assert "Waiting for you" not in client.get(reverse("admin:index")).content.decode()


def test_the_author_is_told_when_it_is_approved_and_when_it_is_sent(
    people, template, subscribe, run_on_commit
):
    subscribe(A, B)
    draft = make_draft(people["author"], template, title="Chiusura via Roma")
    lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])

    with run_on_commit():  # in-process: approved, started, fanned out, sent
        lifecycle.broadcast_approve(broadcast=draft, actor=people["approver"])

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.SENT
    to_author = [m for m in mail.outbox if m.to == ["editor@comune.example"]]
    assert [m.subject for m in to_author] == [
        "Approvata: Chiusura via Roma",
        "Inviata: Chiusura via Roma",
    ]
    assert "approver ha approvato “Chiusura via Roma”: l'invio inizia ora." in to_author[0].body
    assert "“Chiusura via Roma” è partita: 2 messaggi, 0 non riusciti." in to_author[1].body
    for message in mail.outbox:
        assert not NUMBER_LIKE.search(message.subject + message.body)


def test_the_author_is_told_when_it_is_scheduled_and_when_it_will_start(people, run_on_commit):
    draft = make_draft(people["author"], title="Chiusura via Roma")
    lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])
    at = timezone.localtime(timezone.now() + timedelta(days=2)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )

    with run_on_commit():
        lifecycle.broadcast_approve(broadcast=draft, actor=people["approver"], scheduled_at=at)

    (message,) = mail.outbox
    assert message.to == ["editor@comune.example"]
    assert message.subject == "Approvata e programmata: Chiusura via Roma"
    assert f"partirà alle 10:30 del {at:%d/%m/%Y}." in message.body


def test_the_author_is_told_of_a_return_to_draft_with_the_note_also_atop_the_page(
    client, people, run_on_commit
):
    draft = make_draft(people["author"], title="Chiusura via Roma")
    lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])

    with run_on_commit():
        lifecycle.broadcast_reject(
            broadcast=draft, actor=people["approver"], note="Manca l'orario di riapertura."
        )

    (message,) = mail.outbox
    assert message.to == ["editor@comune.example"]
    assert message.subject == "Riportata in bozza: Chiusura via Roma"
    assert "La nota: Manca l'orario di riapertura." in message.body

    client.force_login(people["author"])
    page = client.get(change_url(draft)).content.decode()
    top = page.split('class="wa-lifecycle"')[1].split("</section>")[0]
    assert "Returned to draft by approver" in top
    assert "Manca l&#x27;orario di riapertura." in top

    lifecycle.broadcast_submit(broadcast=draft, actor=people["author"])
    page = client.get(change_url(draft)).content.decode()
    assert "Returned to draft by" not in page  # submitted again: the note is history now


def test_nobody_is_mailed_about_their_own_step(people, run_on_commit):
    emergency = authoring.broadcast_create(
        author=people["mayor"],
        title="Allerta meteo",
        body="Allerta.",
        category=Broadcast.Category.EMERGENCY,
    )

    with run_on_commit():
        lifecycle.broadcast_send_emergency(broadcast=emergency, actor=people["mayor"])

    # The other approver hears of the emergency sent alone. The mayor, its author, is not told
    # that they approved it, only that the system finished sending it.
    subjects = Counter((tuple(m.to), m.subject) for m in mail.outbox)
    assert subjects == Counter(
        {
            (
                ("approver@comune.example",),
                "Emergenza inviata senza secondo approvatore: Allerta meteo",
            ): 1,
            (("sindaco@comune.example",), "Inviata: Allerta meteo"): 1,
        }
    )


def test_a_pause_on_an_expired_token_is_told_to_the_author_and_the_approver(
    people,
    subscribe,
    fake_cloud,  # noqa: F811
    run_on_commit,
    template,
):
    subscribe(A, B)
    draft = make_draft(people["author"], template, title="Chiusura via Roma")
    start(draft, people["approver"])
    fake_cloud.responder = lambda request: (
        401,
        {"error": {"message": "Error validating access token", "code": 190}},
    )

    with run_on_commit():
        run_until_done(draft)

    draft.refresh_from_db()
    assert draft.status == Broadcast.Status.PAUSED
    paused = [m for m in mail.outbox if m.subject == "In pausa per un guasto: Chiusura via Roma"]
    assert _to(paused) == ["approver@comune.example", "editor@comune.example"]
    assert "190 Error validating access token" in paused[0].body
