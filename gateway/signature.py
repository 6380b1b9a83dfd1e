"""Meta's webhook signature: ``X-Hub-Signature-256``, an HMAC-SHA256 of the raw body with the
app secret."""

from __future__ import annotations

import hashlib
import hmac
import string

SIGNATURE_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``body`` (for tests and simulators)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, signature_header: str | None, app_secret: str) -> bool:
    """Whether ``signature_header`` is Meta's HMAC-SHA256 of the raw ``body`` with ``app_secret``.

    The raw bytes are hashed, never re-serialised JSON (which changes accented letters, ``/`` and
    ``@``), and compared in constant time. No secret means nothing can be trusted.
    """
    if not app_secret or not isinstance(signature_header, str):
        return False
    header = signature_header.strip()
    if not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header.removeprefix(SIGNATURE_PREFIX).lower()
    if len(given) != 64 or not all(char in string.hexdigits for char in given):
        return False
    return hmac.compare_digest(sign(body, app_secret), SIGNATURE_PREFIX + given)
