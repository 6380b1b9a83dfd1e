"""WhatsApp's text formatting, rendered as HTML for staff previews, and template bodies filled
in as WhatsApp delivers them (the one rule, used by previews, the archive and the local backends).

WhatsApp marks *bold*, _italic_, ~strikethrough~ and ```monospace```. A marker opens only where
it is not glued to a word before it and is followed by a non-space; it closes on a non-space not
glued to a word after it; formatting never spans lines. Everything is HTML-escaped before any tag
is added, so text typed by staff can never become markup. broadcasts/static/broadcasts/preview.js
applies the same rules in the browser.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Meta's limits: a free text body, and each body parameter of a template.
TEXT_BODY_MAX_LENGTH = 4096
TEMPLATE_PARAMETER_MAX_LENGTH = 1024

_MONOSPACE = re.compile(r"```(.+?)```", re.DOTALL)
_INLINE = [
    (marker, tag, re.compile(rf"(?<![\w{m}]){m}(?=\S)([^\n]*?\S){m}(?![\w{m}])"))
    for marker, tag, m in [("*", "strong", r"\*"), ("_", "em", "_"), ("~", "s", "~")]
]
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def _format_inline(escaped: str) -> str:
    for _marker, tag, pattern in _INLINE:
        escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
    return escaped.replace("\n", "<br>")


def whatsapp_to_html(text: str) -> SafeString:
    """The text as a citizen sees it in WhatsApp, as safe HTML."""
    parts: list[str] = []
    position = 0
    for match in _MONOSPACE.finditer(text or ""):
        parts.append(_format_inline(escape(text[position : match.start()])))
        code = escape(match.group(1)).replace("\n", "<br>")
        parts.append(f"<code>{code}</code>")
        position = match.end()
    parts.append(_format_inline(escape((text or "")[position:])))
    return mark_safe("".join(parts))  # noqa: S308 - every piece of input was escaped above


def template_placeholder_count(body: str) -> int:
    """How many body parameters a template expects: its distinct {{n}} placeholders."""
    return len({int(number) for number in _PLACEHOLDER.findall(body or "")})


def template_fill(body: str, parameters: list[str]) -> str:
    """A template body with its {{n}} placeholders replaced, as WhatsApp delivers it."""

    def value(match: re.Match) -> str:
        index = int(match.group(1)) - 1
        return parameters[index] if 0 <= index < len(parameters) else match.group(0)

    return _PLACEHOLDER.sub(value, body or "")
