"""The link that opens WhatsApp with the subscribe keyword typed, and its QR code."""

from urllib.parse import urlencode

import phonenumbers
import segno
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

from subscribers.keywords import DEFAULT_KEYWORDS, Intent


def subscribe_keyword() -> str:
    """The first subscribe keyword: the configured list's, or the Italian default's."""
    return (settings.KEYWORDS_SUBSCRIBE or DEFAULT_KEYWORDS[Intent.SUBSCRIBE])[0]


def unsubscribe_keyword() -> str:
    return (settings.KEYWORDS_UNSUBSCRIBE or DEFAULT_KEYWORDS[Intent.UNSUBSCRIBE])[0]


def number_display(number: str) -> str:
    """The comune's number as people write it (+39 …), or as configured if it cannot be read."""
    try:
        parsed = phonenumbers.parse(number, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def subscribe_link(*, number: str, keyword: str) -> str:
    """A wa.me link: opens a chat with the number, the keyword already typed."""
    digits = "".join(character for character in number if character.isdigit())
    return f"https://wa.me/{digits}?{urlencode({'text': keyword})}"


def qr_svg(data: str, *, title: str) -> SafeString:
    """The QR code of `data` as inline SVG, sized by CSS."""
    svg = segno.make(data, error="m").svg_inline(
        scale=4, border=2, dark="#000", light="#fff", title=title, omitsize=True, svgclass="qr"
    )
    return mark_safe(svg)  # noqa: S308 - segno writes the markup and escapes the title
