import pytest

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
