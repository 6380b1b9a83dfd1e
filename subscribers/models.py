from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subscribers.phones import mask_address


class Subscriber(models.Model):
    """A citizen who wrote a keyword to the comune's number."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        UNREACHABLE = "unreachable", _("unreachable")

    # E.164 ("+39…"). NULL only for a citizen known by WhatsApp's user id alone (usernames);
    # NULL rather than "" so that the unique constraints ignore a missing address.
    phone = models.CharField(_("phone number"), max_length=16, null=True, blank=True)  # noqa: DJ001
    wa_user_id = models.CharField(  # noqa: DJ001
        _("WhatsApp user id"), max_length=128, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.UNSUBSCRIBED
    )
    subscribed_at = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    # The citizen's own time of the newest keyword that decided the status: an older keyword
    # redelivered late by Meta must not overturn it.
    keyword_at = models.DateTimeField(_("last keyword at"), null=True, blank=True)
    # Opens WhatsApp's 24-hour customer-service window.
    last_inbound_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    # The citizen told WhatsApp to stop marketing messages from us (a `stop` preference, or a
    # marketing template refused for it): marketing templates are skipped for them until they
    # resume; everything else still goes.
    marketing_stopped_at = models.DateTimeField(
        _("stopped marketing messages at"), null=True, blank=True
    )
    # The citizen's own time of the newest marketing choice we heard of (stop or resume): an
    # older one arriving late changes nothing.
    marketing_preference_at = models.DateTimeField(_("marketing choice at"), null=True, blank=True)
    # Consecutive "not on WhatsApp" failures; enough of them mark the number unreachable.
    undeliverable_count = models.PositiveSmallIntegerField(_("undeliverable"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # After erasure or retention: a keyed hash of the number; phone and wa_user_id are NULL.
    pseudonym = models.CharField(  # noqa: DJ001
        _("pseudonym"), max_length=64, null=True, blank=True, editable=False, db_index=True
    )

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        constraints = [
            models.UniqueConstraint(
                fields=["phone"], condition=Q(phone__isnull=False), name="subscriber_phone_unique"
            ),
            models.UniqueConstraint(
                fields=["wa_user_id"],
                condition=Q(wa_user_id__isnull=False),
                name="subscriber_wa_user_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=False)
                | Q(wa_user_id__isnull=False)
                | Q(pseudonym__isnull=False),
                name="subscriber_has_an_address",
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__regex=r"^\+[1-9][0-9]{5,14}$"),
                name="subscriber_phone_e164",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="subscriber_status_idx")]

    def __str__(self) -> str:
        return self.masked_address

    @property
    def address(self) -> str:
        """Where WhatsApp messages go: the number, or the user id when no number is known."""
        return self.phone or self.wa_user_id or ""

    @property
    def masked_address(self) -> str:
        if not self.address and self.pseudonym:
            return str(_("pseudonymised"))
        return mask_address(self.address)

    @property
    def stopped_marketing(self) -> bool:
        return self.marketing_stopped_at is not None

    @property
    def is_subscribed(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.UNREACHABLE)


class PrivacyNotice(models.Model):
    """A version of the service's privacy notice; exactly one is current."""

    # Part of the notice's public address (/informativa-privacy/<version>/).
    version = models.CharField(
        _("version"),
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9._-]+\Z",
                _("Use only letters, digits, dot, dash and underscore (e.g. 2.1 or 2024-01)."),
            )
        ],
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    published_at = models.DateTimeField(_("published at"))
    is_current = models.BooleanField(_("current"), default=False)

    class Meta:
        verbose_name = _("privacy notice")
        verbose_name_plural = _("privacy notices")
        ordering = ["-published_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="one_current_notice"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"


class ConsentLogIsAppendOnly(Exception):
    """Consent records are evidence: the application never edits or deletes them."""


class ConsentRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ConsentLogIsAppendOnly("consent records cannot be updated")

    def delete(self):
        raise ConsentLogIsAppendOnly("consent records cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ConsentLogIsAppendOnly("consent records cannot be updated")


class ConsentRecord(models.Model):
    """One consent event, appended and never changed: the proof of what a citizen accepted.

    Each record carries an HMAC-SHA256 (keyed with CONSENT_LOG_KEY, never in the database) over
    its content and the previous record's hash, in the order of `sequence`, so that an edit, a
    removal or a reordering behind the application's back is found by `manage.py
    verify_consent_log`; so is a change to the notice's text or to the subscriber's number, which
    each record binds by hash (a number the citizen changed is itself a record, `number_changed`,
    binding the new one and naming the old one's pseudonym). On PostgreSQL a trigger refuses
    UPDATE, DELETE and TRUNCATE.
    """

    class Action(models.TextChoices):
        GRANTED = "granted", _("granted")
        WITHDRAWN = "withdrawn", _("withdrawn")
        # The citizen moved to a new number and their consent with them: not a consent event of
        # its own, so a subscriber's state stays that of their latest grant or withdrawal.
        NUMBER_CHANGED = "number_changed", _("number changed")

    class Channel(models.TextChoices):
        WHATSAPP = "whatsapp", _("WhatsApp")
        IMPORT = "import", _("import")
        ADMIN = "admin", _("admin")

    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.PROTECT, related_name="consents", verbose_name=_("subscriber")
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    notice = models.ForeignKey(
        PrivacyNotice,
        on_delete=models.PROTECT,
        related_name="consents",
        verbose_name=_("privacy notice"),
    )
    occurred_at = models.DateTimeField(_("occurred at"))  # the citizen's own message time
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    # Message id and text, or importing user and file: what proves the event.
    evidence = models.JSONField(_("evidence"), default=dict)
    # The subscriber's keyed pseudonym at the time (the one retention later keeps instead of the
    # number), and a SHA-256 of the notice's version, title and text: bound into the hash.
    subscriber_pseudonym = models.CharField(_("subscriber pseudonym"), max_length=64)
    notice_hash = models.CharField(_("privacy notice hash"), max_length=64)
    sequence = models.PositiveBigIntegerField(_("sequence"), unique=True)
    previous_hash = models.CharField(_("previous hash"), max_length=64, blank=True)
    hash = models.CharField(_("hash"), max_length=64)

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["subscriber", "occurred_at"], name="consent_subscriber_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ConsentLogIsAppendOnly("consent records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ConsentLogIsAppendOnly("consent records cannot be deleted")


class InboundMessage(models.Model):
    """Every message a citizen sent, once: idempotency against Meta's redeliveries, and audit.

    Only keywords keep their text; of anything else nothing of its content is stored.
    """

    class Intent(models.TextChoices):
        SUBSCRIBE = "subscribe", _("subscribe")
        UNSUBSCRIBE = "unsubscribe", _("unsubscribe")
        HELP = "help", _("help")
        OTHER = "other", _("other")
        IGNORED = "ignored", _("ignored")  # reactions, system notices: no reply at all
        NUMBER_CHANGED = "number_changed", _("number changed")  # no reply either

    class Reply(models.TextChoices):
        NONE = "", _("no reply")
        SUBSCRIBED = "subscribed", _("subscription confirmed")
        ALREADY_SUBSCRIBED = "already_subscribed", _("already subscribed")
        UNSUBSCRIBED = "unsubscribed", _("unsubscription confirmed")
        NOT_SUBSCRIBED = "not_subscribed", _("was not subscribed")
        HELP = "help", _("help")
        ONE_WAY_NOTICE = "one_way_notice", _("one-way notice")

    wamid = models.CharField(_("message id"), max_length=256, unique=True)
    # As the gateway gives them: a citizen may have a number, a user id, or both.
    phone = models.CharField(_("phone number"), max_length=16, null=True, blank=True)  # noqa: DJ001
    wa_user_id = models.CharField(  # noqa: DJ001
        _("WhatsApp user id"), max_length=128, null=True, blank=True
    )
    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_messages",
        verbose_name=_("subscriber"),
    )
    wa_type = models.CharField(_("type"), max_length=32)
    intent = models.CharField(_("intent"), max_length=16, choices=Intent.choices)
    text = models.TextField(_("keyword text"), blank=True)
    occurred_at = models.DateTimeField(_("sent at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    reply = models.CharField(_("reply"), max_length=32, choices=Reply.choices, blank=True)
    reply_wamid = models.CharField(_("reply message id"), max_length=256, blank=True)
    reply_error = models.CharField(_("reply error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["phone", "reply", "received_at"], name="inbound_notice_idx"),
            models.Index(fields=["received_at"], name="inbound_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.wa_type} {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def address(self) -> str:
        return self.phone or self.wa_user_id or ""
