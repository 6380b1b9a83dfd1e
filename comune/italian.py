"""Italian prepositions joined to the names a comune configures, so a reply reads "del Comune
di Ostiglia", "della Città di Rozzano" and "all'URP" whatever COMUNE_NAME and
COMUNE_REPORTS_CONTACT hold."""

from django.conf import settings

# Definite article (as written before a word) → "a" + article, "di" + article.
_ARTICLES = {
    "l'": ("all'", "dell'"),
    "il ": ("al ", "del "),
    "lo ": ("allo ", "dello "),
    "la ": ("alla ", "della "),
    "i ": ("ai ", "dei "),
    "gli ": ("agli ", "degli "),
    "le ": ("alle ", "delle "),
}
# The article the head word of an institution's name takes when the name is written bare.
_HEAD_ARTICLES = {
    "comune": "il ",
    "municipio": "il ",
    "città": "la ",
    "citta": "la ",
    "unione": "l'",
    "comunità": "la ",
}


def _split_article(phrase: str) -> tuple[str | None, str]:
    lowered = phrase.lower()
    for article in _ARTICLES:
        if lowered.startswith(article):
            return article, phrase[len(article) :]
    return None, phrase


def to_phrase(phrase: str) -> str:
    """``phrase`` after "a", its article joined: "l'URP" → "all'URP", "urp@…" → "a urp@…"."""
    phrase = phrase.strip()
    article, rest = _split_article(phrase)
    if article is not None:
        return _ARTICLES[article][0] + rest
    return ("ad " if phrase[:1].lower() == "a" else "a ") + phrase


def of_institution(name: str) -> str:
    """``name`` after "di", with the article its head word takes: "Comune di Ostiglia" → "del
    Comune di Ostiglia", "Città di Rozzano" → "della Città di Rozzano". A bare place name
    ("Ostiglia") is read as the comune's: "del Comune di Ostiglia"."""
    name = name.strip()
    article, rest = _split_article(name)
    if article is None:
        head = name.split(" ", 1)[0].lower()
        article = _HEAD_ARTICLES.get(head)
        if article is None:
            return f"del Comune di {name}"
        rest = name
    return _ARTICLES[article][1] + rest


def service_phrase() -> str:
    """The service as a reply names it after "nel"/"al": "servizio InfOstiglia del Comune di
    Ostiglia", or without a service name "servizio WhatsApp del Comune di Ostiglia"."""
    name = settings.COMUNE_SERVICE_NAME.strip() or "WhatsApp"
    return f"servizio {name} {of_institution(settings.COMUNE_NAME)}"


def names() -> dict[str, str]:
    """The comune's names as the text templates (replies, the starter notice and regulation)
    use them."""
    return {
        "comune_name": settings.COMUNE_NAME,
        "of_comune": of_institution(settings.COMUNE_NAME),
        "service_name": settings.COMUNE_SERVICE_NAME.strip(),
        "service": service_phrase(),
        "reports_contact": settings.COMUNE_REPORTS_CONTACT,
        "to_reports_contact": to_phrase(settings.COMUNE_REPORTS_CONTACT),
    }
