"""Each staff member turns their e-mail notifications on or off (issue 17, point 1)."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from roles.selectors import user_wants_email, users_emailed
from tests.factories import staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_a_staff_member_turns_email_off_and_on_again(client):
    editor = staff("editor", "view_broadcast")
    editor.email = "editor@comune.example"
    editor.save()
    client.force_login(editor)
    url = reverse("staff-notifications")

    page = client.get(url).content.decode()
    assert "E-mails go to editor@comune.example." in page
    assert re.search(r'<input type="checkbox" name="email"[^>]* checked>', page)  # on by default

    response = client.post(url, {}, follow=True)  # the box unticked
    assert "Your notification preference is saved." in response.content.decode()
    assert not user_wants_email(user=editor)
    assert list(users_emailed(User.objects.filter(pk=editor.pk))) == []

    client.post(url, {"email": "on"})
    assert user_wants_email(user=editor)
    assert list(users_emailed(User.objects.filter(pk=editor.pk))) == [editor]


def test_only_signed_in_staff_reach_the_page(client):
    url = reverse("staff-notifications")
    assert client.get(url).status_code == 302  # to the login
    citizen_account = User.objects.create_user("mario", password="pw")
    client.force_login(citizen_account)
    response = client.post(url, {})
    assert response.status_code == 302
    assert not User.objects.filter(notification_preference__isnull=False).exists()
