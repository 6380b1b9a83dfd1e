import io

import gateway
from gateway.backends.console import ConsoleBackend
from gateway.backends.dummy import DummyBackend
from gateway.backends.locmem import LocmemBackend
from gateway.types import TemplateMessage, TextMessage

TEXT = TextMessage(to="+393331234567", body="Sei iscritto.", callback_data="d:1")
TEMPLATE = TemplateMessage(
    to="+393339876543",
    name="avviso_comune",
    language="it",
    body_parameters=("strada chiusa",),
    header_parameters=("Roccabianca",),
    body_text="Avviso: {{1}}",
)


def test_console_prints_what_the_citizen_reads():
    stream = io.StringIO()
    with ConsoleBackend(stream=stream) as backend:
        text_result, template_result = backend.send_messages([TEXT, TEMPLATE])
    output = stream.getvalue()
    assert text_result.ok and text_result.message_id.startswith("console.")
    assert template_result.message_id.startswith("console.")
    assert text_result.message_id != template_result.message_id
    for line in (
        "To: +393331234567",
        "Sei iscritto.",
        "Callback data: d:1",
        "To: +393339876543",
        "Type: template avviso_comune (it)",
        "Header parameters: Roccabianca",
        "Avviso: strada chiusa",
    ):
        assert line in output.splitlines()
    assert output.index("Sei iscritto.") < output.index("avviso_comune")


def test_console_shows_parameters_when_the_template_text_is_unknown():
    stream = io.StringIO()
    template = TemplateMessage(to="+39333", name="t", language="it", body_parameters=("a", "b"))
    ConsoleBackend(stream=stream).send(template)
    assert "Body parameters: a | b" in stream.getvalue().splitlines()


def test_console_writes_to_standard_output_by_default(capsys):
    ConsoleBackend().send(TEXT)
    assert "Sei iscritto." in capsys.readouterr().out


def test_locmem_collects_messages_in_the_outbox(monkeypatch):
    monkeypatch.setattr(gateway, "outbox", [])
    backend = LocmemBackend(unused_option="ignored")
    results = backend.send_messages([TEXT, TEMPLATE])
    assert gateway.outbox == [TEXT, TEMPLATE]
    assert all(result.ok and result.message_id.startswith("locmem.") for result in results)
    assert results[0].message_id != results[1].message_id


def test_locmem_lists_the_templates_it_was_given():
    template = {"name": "avviso_comune", "language": "it", "body": "Avviso: {{1}}"}
    assert LocmemBackend(templates=[template]).list_templates("waba") == [template]
    assert ConsoleBackend().list_templates("waba") == []


def test_dummy_accepts_everything():
    [result] = DummyBackend().send_messages([TEXT])
    assert result.ok and result.message_id.startswith("dummy.")
