import pytest
from django.core.management import CommandError, call_command

from broadcasts.models import MessageTemplate
from tests.conftest import load_payload
from tests.fakes.cloud_api import FakeCloudAPI

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(settings):
    with FakeCloudAPI() as fake:
        settings.WHATSAPP_GATEWAY = {
            "BACKEND": "gateway.backends.cloud.CloudBackend",
            "OPTIONS": {"api_url": fake.url, "phone_number_id": "1", "access_token": "t"},
        }
        settings.WHATSAPP_BUSINESS_ACCOUNT_ID = "102290129340398"
        yield fake


def test_sync_templates_reads_the_approved_templates_from_the_cloud_api(cloud, capsys):
    cloud.templates = load_payload("templates_list")["data"]

    call_command("sync_templates")

    names = set(MessageTemplate.objects.values_list("name", "status"))
    assert names == {(t["name"], t["status"]) for t in cloud.templates}
    assert cloud.requests[0].path == "/v23.0/102290129340398/message_templates"
    assert f"{len(cloud.templates)} templates" in capsys.readouterr().out


def test_sync_templates_says_why_when_the_token_is_refused(cloud):
    cloud.fail_next(1, status=401, code=190, message="Error validating access token")

    with pytest.raises(CommandError, match="190"):
        call_command("sync_templates")


def test_sync_templates_needs_the_business_account(cloud, settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    with pytest.raises(CommandError, match="WHATSAPP_BUSINESS_ACCOUNT_ID"):
        call_command("sync_templates")
