import pytest

import gateway
from gateway import get_backend
from gateway.backends.cloud import CloudBackend
from gateway.backends.console import ConsoleBackend
from gateway.backends.locmem import LocmemBackend
from gateway.exceptions import GatewayConfigurationError
from gateway.types import TextMessage

CLOUD = "gateway.backends.cloud.CloudBackend"


def test_the_configured_backend_is_built_with_its_options(settings):
    settings.WHATSAPP_GATEWAY = {
        "BACKEND": CLOUD,
        "OPTIONS": {"phone_number_id": "1", "access_token": "t", "api_url": "http://x"},
    }
    backend = get_backend()
    assert isinstance(backend, CloudBackend)
    assert backend.messages_url == "http://x/v23.0/1/messages"


def test_keyword_options_override_the_settings(settings):
    settings.WHATSAPP_GATEWAY = {
        "BACKEND": CLOUD,
        "OPTIONS": {"phone_number_id": "1", "access_token": "t", "timeout": 10},
    }
    backend = get_backend(timeout=2.5, fail_silently=True)
    assert (backend.timeout, backend.fail_silently) == (2.5, True)


def test_an_explicit_backend_or_alias_overrides_the_settings(settings):
    settings.WHATSAPP_GATEWAY = {"BACKEND": CLOUD, "OPTIONS": {"access_token": "t"}}
    assert isinstance(get_backend("gateway.backends.console.ConsoleBackend"), ConsoleBackend)
    assert isinstance(get_backend("locmem"), LocmemBackend)


def test_the_test_settings_use_the_locmem_outbox(settings):
    get_backend().send(TextMessage(to="+393331234567", body="ciao"))
    assert gateway.outbox == [TextMessage(to="+393331234567", body="ciao")]


@pytest.mark.parametrize(
    "config",
    [
        None,
        {"BACKEND": ""},
        {"BACKEND": "gateway.backends.nowhere.Backend"},
        {"BACKEND": "gateway.types.TextMessage"},
        {"BACKEND": CLOUD, "OPTIONS": {"phone_number_id": "1"}},  # no token
    ],
)
def test_misconfiguration_is_loud(settings, config):
    settings.WHATSAPP_GATEWAY = config
    with pytest.raises(GatewayConfigurationError):
        get_backend()
