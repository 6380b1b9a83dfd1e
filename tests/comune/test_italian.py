"""Issue 17, point 7: replies in correct Italian whatever COMUNE_NAME, COMUNE_SERVICE_NAME and
COMUNE_REPORTS_CONTACT hold."""

import pytest

from comune.italian import of_institution, to_phrase
from subscribers.services.inbound import reply_text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Comune di Ostiglia", "del Comune di Ostiglia"),
        ("Città di Rozzano", "della Città di Rozzano"),
        ("Unione dei Comuni della Bassa", "dell'Unione dei Comuni della Bassa"),
        ("Ostiglia", "del Comune di Ostiglia"),
        ("il Comune di Todi", "del Comune di Todi"),
    ],
)
def test_the_comune_takes_the_article_its_name_needs(name, expected):
    assert of_institution(name) == expected


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ("l'URP del Comune", "all'URP del Comune"),
        ("l'Ufficio Relazioni con il Pubblico", "all'Ufficio Relazioni con il Pubblico"),
        ("lo Sportello del cittadino", "allo Sportello del cittadino"),
        ("la Polizia locale", "alla Polizia locale"),
        ("il numero 0376 123456", "al numero 0376 123456"),
        ("urp@comune.ostiglia.mn.it", "a urp@comune.ostiglia.mn.it"),
        ("Anagrafe, piazza Roma 1", "ad Anagrafe, piazza Roma 1"),
    ],
)
def test_the_reports_contact_is_joined_to_its_preposition(contact, expected):
    assert to_phrase(contact) == expected


@pytest.mark.django_db
def test_without_a_service_name_the_replies_do_not_repeat_the_comune(settings):
    settings.COMUNE_NAME, settings.COMUNE_SERVICE_NAME = "Comune di Ostiglia", ""
    settings.COMUNE_REPORTS_CONTACT = "l'URP del Comune"

    welcome = reply_text(reply="subscribed")
    helping = reply_text(reply="help")

    assert welcome.startswith("Benvenuto nel servizio WhatsApp del Comune di Ostiglia!")
    assert "rivolgiti all'URP del Comune." in welcome
    assert helping.startswith("Questo è il servizio di informazione del Comune di Ostiglia")
    for reply in ("subscribed", "help", "unsubscribed", "already_subscribed", "not_subscribed"):
        text = reply_text(reply=reply)
        assert text.count("Ostiglia") == 1, (reply, text)
        assert " a l'" not in text and "del Ostiglia" not in text


@pytest.mark.django_db
def test_with_a_service_name_and_a_bare_place_name_the_replies_read_well(settings):
    settings.COMUNE_NAME, settings.COMUNE_SERVICE_NAME = "Rozzano", "InfoRozzano"

    assert reply_text(reply="unsubscribed").startswith(
        "Hai annullato l'iscrizione al servizio InfoRozzano del Comune di Rozzano:"
    )
    assert reply_text(reply="help").startswith(
        "InfoRozzano è il servizio di informazione del Comune di Rozzano su WhatsApp"
    )
    assert reply_text(reply="one_way_notice").startswith(
        "Questo numero del Comune di Rozzano invia solo informazioni"
    )
