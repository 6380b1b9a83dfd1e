"""The consent log's anchor: every day the chain's head and count, signed, go where the privacy
officer keeps them, outside the database (a file the application only appends to, an e-mail),
so that `verify_consent_log` can tell when the newest records, or all of them, were removed."""

from __future__ import annotations

import logging
import os
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import gettext as _

from subscribers.consent_log import ConsentAnchor, consent_anchor_make

logger = logging.getLogger(__name__)


class NowhereToAnchor(Exception):
    """Neither CONSENT_ANCHOR_PATH nor CONSENT_ANCHOR_EMAIL is set."""


def consent_log_anchor(*, now: datetime) -> ConsentAnchor:
    """Sign the chain's head and count as of now; append the anchor to CONSENT_ANCHOR_PATH
    and/or e-mail it to CONSENT_ANCHOR_EMAIL. Raises NowhereToAnchor when neither is set, and
    OSError (smtplib's errors included) when the file cannot be written or the mail sent."""
    path, recipients = settings.CONSENT_ANCHOR_PATH, settings.CONSENT_ANCHOR_EMAIL
    if not path and not recipients:
        raise NowhereToAnchor("set CONSENT_ANCHOR_PATH or CONSENT_ANCHOR_EMAIL")
    anchor = consent_anchor_make(now=now)
    if path:
        with open(path, "a", encoding="utf-8") as anchors:
            anchors.write(anchor.line() + "\n")
            anchors.flush()
            os.fsync(anchors.fileno())
    if recipients:
        send_mail(
            _("Consent log anchor of %(date)s") % {"date": anchor.at[:10]},
            _(
                "The signed head of the consent log. Keep this message: to check the log, save "
                "the line below to a file and run\n"
                "manage.py verify_consent_log --anchor <that file>\n\n%(anchor)s\n"
            )
            % {"anchor": anchor.line()},
            None,
            recipients,
        )
    logger.info("consent log anchored: %s records, head %s", anchor.count, anchor.head)
    return anchor
