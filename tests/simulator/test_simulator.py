import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

import gateway
from simulator.backend import SimulatorBackend
from simulator.models import ChatMessage
from subscribers.models import Subscriber

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator_gateway(settings) -> io.StringIO:
    """The simulator's backend, printing into a buffer instead of the test output."""
    stream = io.StringIO()
    settings.WHATSAPP_GATEWAY = {
        "BACKEND": "simulator.backend.SimulatorBackend",
        "OPTIONS": {"stream": stream},
    }
    return stream


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_user("staff", password="pw", is_staff=True))
    return client


@pytest.mark.django_db
def test_a_citizen_subscribes_from_the_simulator_and_reads_the_confirmation(
    staff_client, privacy_notice, simulator_gateway, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the reply, sent after commit
        sent = staff_client.post("/simulator/", {"phone": "333 123 4567", "text": "Iscrivimi"})
    page = staff_client.get(sent["Location"]).content.decode()

    assert sent["Location"] == "/simulator/"
    assert "+393331234567" in page  # in the page body, never in a URL
    assert page.index("Iscrivimi</div>") < page.index("Benvenuto nel servizio")
    assert "scrivi <strong>Cancellami</strong>" in page  # formatted as WhatsApp shows it
    assert "To: +393331234567" in simulator_gateway.getvalue()  # printed like console


@pytest.mark.django_db
def test_the_simulator_shows_an_error_when_the_webhook_refuses(
    staff_client, settings, simulator_gateway
):
    # No privacy notice yet: the webhook asks Meta to retry (503).
    page = staff_client.post(
        "/simulator/", {"phone": "3331234567", "text": "Iscrivimi"}, follow=True
    ).content.decode()

    assert "503" in page


@pytest.mark.django_db
def test_the_simulator_refuses_an_invalid_number(staff_client):
    response = staff_client.post("/simulator/", {"phone": "12", "text": "Iscrivimi"})

    assert response.status_code == 200
    assert not ChatMessage.objects.exists()
    assert "valid phone number" in response.content.decode() or response.context["form"].errors


@pytest.mark.django_db
def test_the_simulator_is_for_staff_only(client):
    response = client.get("/simulator/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_messages_sent_in_an_open_batch_are_stored_when_it_closes(simulator_gateway):
    with gateway.get_backend() as backend:
        backend.send(gateway.TextMessage(to="+393330000001", body="Uno"))
        assert not ChatMessage.objects.exists()
    backend = SimulatorBackend(stream=io.StringIO())
    backend.send(gateway.TextMessage(to="+393330000001", body="Due"))

    chat = ChatMessage.objects.filter(address="+393330000001")
    assert [message.body for message in chat] == ["Uno", "Due"]


@pytest.mark.django_db
def test_a_template_message_is_stored_as_the_citizen_reads_it(simulator_gateway):
    message = gateway.TemplateMessage(
        to="+393330000002",
        name="avviso",
        language="it",
        body_parameters=("strada chiusa",),
        body_text="Avviso: {{1}}",
    )
    SimulatorBackend(stream=io.StringIO()).send(message)

    assert ChatMessage.objects.get().body == "Avviso: strada chiusa"


def test_in_production_the_simulator_is_not_routed():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))},
        "DJANGO_SETTINGS_MODULE": "comune.settings",
        "ENV_FILE": os.devnull,
        "DEBUG": "false",
        "SIMULATOR_ENABLED": "",
        "SECRET_KEY": "production-like-secret-key-for-this-test-only",
        "WHATSAPP_APP_SECRET": "x",
        "WHATSAPP_VERIFY_TOKEN": "y",
    }
    env.pop("SIMULATOR_ENABLED")
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.urls import Resolver404, resolve\n"
        "try:\n    resolve('/simulator/')\nexcept Resolver404:\n    print('absent')\n"
        "print(settings.WHATSAPP_GATEWAY['BACKEND'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )

    assert result.stdout.split() == ["absent", "gateway.backends.console.ConsoleBackend"], (
        result.stderr
    )


def test_in_development_the_simulator_backend_is_the_default():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WHATSAPP_"))},
        "DJANGO_SETTINGS_MODULE": "comune.settings",
        "ENV_FILE": os.devnull,
        "DEBUG": "true",
    }
    env.pop("SIMULATOR_ENABLED", None)
    code = "from django.conf import settings; print(settings.WHATSAPP_GATEWAY['BACKEND'])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )

    assert result.stdout.strip() == "simulator.backend.SimulatorBackend", result.stderr


@pytest.mark.django_db
def test_the_simulator_writes_to_the_configured_number(
    staff_client, privacy_notice, simulator_gateway, settings
):
    # A number id set in development (copied from production's .env) must not silence it.
    settings.WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
    staff_client.post("/simulator/", {"phone": "333 123 4567", "text": "Iscrivimi"})

    assert Subscriber.objects.get(phone="+393331234567").is_subscribed
