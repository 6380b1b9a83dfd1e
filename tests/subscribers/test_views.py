import pytest
from django.core.exceptions import ValidationError

from subscribers.models import PrivacyNotice
from subscribers.services import consent

pytestmark = pytest.mark.django_db


def test_the_privacy_notice_page_shows_the_current_version_and_earlier_ones(client):
    consent.privacy_notice_publish(version="1.0", title="Prima", body="Vecchio testo.")
    consent.privacy_notice_publish(version="2.0", title="Seconda", body="Nuovo testo.")

    current = client.get("/informativa-privacy/")
    earlier = client.get("/informativa-privacy/1.0/")

    assert "Nuovo testo." in current.content.decode()
    assert "/informativa-privacy/1.0/" in current.content.decode()
    assert "Vecchio testo." in earlier.content.decode()


def test_without_a_notice_the_page_is_a_404(client):
    assert client.get("/informativa-privacy/").status_code == 404


@pytest.mark.parametrize("weird", ["a%2Fb", "9.9", "..", "%00", "x y", "a/b", "%E2%80%AE"])
def test_any_unknown_version_in_the_url_is_a_404(client, privacy_notice, weird):
    assert client.get(f"/informativa-privacy/{weird}/").status_code == 404


def test_a_version_that_cannot_be_a_url_is_refused_in_the_admin_in_italian(admin_client):
    response = admin_client.post(
        "/admin/subscribers/privacynotice/add/",
        {"version": "2024/1", "title": "Informativa", "body": "Testo."},
        HTTP_ACCEPT_LANGUAGE="it",
    )

    assert response.status_code == 200
    assert "lettere, cifre, punto, trattino" in response.content.decode()
    assert not PrivacyNotice.objects.exists()


def test_publishing_a_version_with_a_slash_is_refused():
    with pytest.raises(ValidationError) as refused:
        consent.privacy_notice_publish(version="1/0", title="Informativa", body="Testo.")

    assert "version" in refused.value.message_dict
    assert not PrivacyNotice.objects.exists()


def test_a_notice_saved_with_a_slash_before_the_check_does_not_break_the_page(client):
    """Versions written before versions were checked: the page still lists and shows them."""
    consent.privacy_notice_publish(version="1.0", title="Prima", body="Vecchio testo.")
    PrivacyNotice.objects.filter(version="1.0").update(version="2024/1")
    consent.privacy_notice_publish(version="2.0", title="Seconda", body="Nuovo testo.")

    current = client.get("/informativa-privacy/")
    earlier = client.get("/informativa-privacy/2024/1/")

    assert current.status_code == 200
    assert "/informativa-privacy/2024/1/" in current.content.decode()
    assert "Vecchio testo." in earlier.content.decode()
