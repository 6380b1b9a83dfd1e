"""The broadcast form's rules, its WhatsApp preview, the test send and the templates' page."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from broadcasts import lifecycle
from broadcasts.models import Broadcast, StaffTestNumber
from tests.broadcasts.admin_pages import change_url, form_data, make_draft, shown_messages
from tests.factories import log_in

pytestmark = pytest.mark.django_db


# --- Form validation -------------------------------------------------------------------------


def _add(client, **data):
    return client.post(reverse("admin:broadcasts_broadcast_add"), form_data(**data))


def errors_of(response, field: str) -> list[str]:
    return response.context["adminform"].form.errors.get(field, [])


def test_a_bad_second_template_parameter_is_named(client, editor, two_parameter_template):
    client.force_login(editor)

    response = _add(
        client, template=two_parameter_template.pk, template_parameters="via Roma\nlunedì\t12"
    )

    assert response.status_code == 200
    assert not Broadcast.objects.exists()
    assert errors_of(response, "template_parameters") == [
        "Parameter 2 contains a tab or a new line."
    ]


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ("via Roma", "Template chiusura_strada (it) needs 2 parameters, not 1."),
        ("via Roma\nlunedì     12", "Parameter 2 has more than 4 spaces in a row."),
        ("via Roma\n" + "x" * 1025, "Parameter 2 is 1025 characters long: at most 1024."),
        ("via Roma\n\nmartedì", "Parameter 2 is empty."),
    ],
)
def test_template_parameters_follow_metas_rules(
    client, editor, two_parameter_template, parameters, error
):
    client.force_login(editor)

    response = _add(client, template=two_parameter_template.pk, template_parameters=parameters)

    assert error in errors_of(response, "template_parameters")
    assert not Broadcast.objects.exists()


def test_the_text_is_required_without_a_template_and_limited_in_length(client, editor):
    client.force_login(editor)

    empty = _add(client, body="")
    too_long = _add(client, body="a" * 4097)

    assert errors_of(empty, "body") == ["Write the text, or choose a template."]
    assert errors_of(too_long, "body") == [
        "The text is 4097 characters long: WhatsApp allows 4096."
    ]
    assert 'class="wa-count wa-over"' in too_long.content.decode()  # the count shows red
    assert not Broadcast.objects.exists()


def test_a_template_alone_is_enough(client, editor, template):
    client.force_login(editor)

    _add(client, body="", template=template.pk, template_parameters="strade chiuse")

    assert Broadcast.objects.get().body == ""


def test_a_template_meta_has_not_approved_is_refused(client, editor, template):
    template.status = "PENDING"
    template.save()
    client.force_login(editor)

    response = _add(client, template=template.pk, template_parameters="x")

    assert errors_of(response, "template") == [
        "Template avviso_comune (it) is not approved by Meta (status: PENDING)."
    ]


def test_a_send_time_in_the_past_is_refused(client, editor):
    client.force_login(editor)

    response = _add(client, scheduled_at_0="01/01/2020", scheduled_at_1="08:00:00")

    assert errors_of(response, "scheduled_at") == ["This time is in the past."]


def test_the_change_page_previews_the_text_as_whatsapp_shows_it(client, editor):
    broadcast = make_draft(editor, body="*Strada chiusa* <script>alert(1)</script>")
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert '<div class="wa-bubble" data-wa-bubble="body"><strong>Strada chiusa</strong> ' in page
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "broadcasts/preview.js" in page
    assert "<span data-wa-length>41</span> / 4096 characters" in page


def test_a_submitted_broadcast_shows_its_preview_read_only(client, editor, template):
    broadcast = make_draft(editor, template)
    lifecycle.broadcast_submit(broadcast=broadcast, actor=editor)
    client.force_login(editor)

    page = client.get(change_url(broadcast)).content.decode()

    assert "<strong>domani</strong>" in page
    assert "Avviso dal Comune: via Roma chiusa domani" in page
    assert 'name="body"' not in page


# --- A test to my number ---------------------------------------------------------------------


@pytest.fixture
def test_number(db) -> StaffTestNumber:
    administrator = User.objects.create_superuser("administrator", password="pw")
    return StaffTestNumber.objects.create(
        phone="+393334445566", label="Ufficio stampa", added_by=administrator
    )


def test_an_editor_sends_a_test_to_a_listed_staff_number(
    client, editor, template, test_number, whatsapp_outbox
):
    broadcast = make_draft(editor, template)
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_send_test", args=[broadcast.pk])

    response = client.post(url, {"test_number": test_number.pk}, follow=True)

    assert shown_messages(response) == [("success", "Test sent: check your WhatsApp.")]
    assert [message.to for message in whatsapp_outbox] == ["+393334445566"]
    assert "3334445566" not in response.redirect_chain[-1][0]
    event = broadcast.events.get(action="test sent")
    assert event.note == "+39••••••••66: delivered"  # recorded, masked


def test_a_test_goes_to_no_number_nobody_listed(client, editor, test_number, whatsapp_outbox):
    broadcast = make_draft(editor)
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_send_test", args=[broadcast.pk])

    response = client.post(url, {"phone": "+393339999999", "test_number": "999"})

    assert response.status_code == 400
    assert "test_number" in response.context["form"].errors
    assert whatsapp_outbox == []


def test_tests_are_throttled_per_user(client, editor, test_number, whatsapp_outbox, settings):
    settings.BROADCAST_TEST_SENDS_PER_HOUR = 2
    broadcast = make_draft(editor)
    client.force_login(editor)
    url = reverse("admin:broadcasts_broadcast_send_test", args=[broadcast.pk])

    for _attempt in range(3):
        response = client.post(url, {"test_number": test_number.pk}, follow=True)

    assert len(whatsapp_outbox) == 2
    assert shown_messages(response) == [
        ("error", "You sent 2 tests in the last hour: try again later.")
    ]


def test_only_an_administrator_lists_test_numbers(client, editor, approver):
    for user in (editor, approver):
        client.force_login(user)
        response = client.post(
            reverse("admin:broadcasts_stafftestnumber_add"),
            {"label": "Io", "phone": "+393330000000"},
        )
        assert response.status_code == 403
    assert not StaffTestNumber.objects.exists()


# --- Templates -------------------------------------------------------------------------------


def test_templates_are_read_only(client, template):
    admin = User.objects.create_superuser("admin", password="pw")
    log_in(client, admin)

    listing = client.get(reverse("admin:broadcasts_messagetemplate_changelist"))
    detail = client.get(reverse("admin:broadcasts_messagetemplate_change", args=[template.pk]))
    add = client.get(reverse("admin:broadcasts_messagetemplate_add"))

    assert "avviso_comune" in listing.content.decode()
    assert 'name="body"' not in detail.content.decode()
    assert "Avviso dal Comune: {{1}}" in detail.content.decode()
    assert add.status_code == 403
