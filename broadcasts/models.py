import hashlib
import json
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from subscribers.models import Subscriber
from subscribers.phones import mask_address


class MessageTemplate(models.Model):
    """A WhatsApp template approved by Meta: the only message delivered outside the 24-hour
    window. Read from the Cloud API by `manage.py sync_templates`."""

    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=16, default="it")
    category = models.CharField(_("category"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=32, blank=True)
    header = models.CharField(_("header"), max_length=60, blank=True)
    body = models.TextField(_("body"), help_text=_("With placeholders {{1}}, {{2}}, …"))
    synced_at = models.DateTimeField(_("synchronised at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["name", "language"], name="template_name_language")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_approved(self) -> bool:
        return self.status.upper() == "APPROVED"

    @property
    def is_marketing(self) -> bool:
        """Meta's marketing category: a citizen who stopped marketing messages does not get it."""
        return self.category.upper() == "MARKETING"


def content_fingerprint(instance: models.Model, fields: Iterable[str]) -> str:
    """SHA-256 over the content four eyes approve (`fields` of `instance`), canonical JSON."""
    content = {name: getattr(instance, name) for name in fields}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Broadcast(models.Model):
    """A message staff write once and the service delivers to every subscriber, individually."""

    # What four eyes approve: a change to any of these after submission voids the submission.
    CONTENT_FIELDS = (
        "title",
        "body",
        "category",
        "priority",
        "template_id",
        "template_parameters",
        "media_url",
        "is_public",
    )

    class Category(models.TextChoices):
        PUBLIC_UTILITY = "public_utility", _("public utility")
        DEADLINE = "deadline", _("deadline")
        TRAFFIC = "traffic", _("traffic")
        EMERGENCY = "emergency", _("emergency")
        EVENT = "event", _("event")

    class Priority(models.TextChoices):
        NORMAL = "normal", _("normal")
        EMERGENCY = "emergency", _("emergency")

    class Audience(models.TextChoices):
        # Everyone subscribed: free text inside their 24-hour window, the template outside it.
        ALL = "all", _("every subscriber")
        # Only citizens inside their window, by an approver's choice when there is no template.
        WINDOW_ONLY = "window_only", _("only those inside their 24-hour window")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        AWAITING_APPROVAL = "awaiting_approval", _("awaiting approval")
        APPROVED = "approved", _("approved")
        SENDING = "sending", _("sending")
        PAUSED = "paused", _("paused")
        SENT = "sent", _("sent")
        CANCELLED = "cancelled", _("cancelled")

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    priority = models.CharField(
        _("priority"), max_length=16, choices=Priority.choices, default=Priority.NORMAL
    )
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="broadcasts",
        verbose_name=_("template"),
    )
    template_parameters = models.JSONField(_("template parameters"), default=list, blank=True)
    media_url = models.URLField(_("media link"), blank=True)
    is_public = models.BooleanField(_("show in the public archive"), default=True)
    status = models.CharField(
        _("status"), max_length=32, choices=Status.choices, default=Status.DRAFT
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Chosen at approval (recorded in its event): who the broadcast may reach.
    audience = models.CharField(
        _("recipients"), max_length=16, choices=Audience.choices, default=Audience.ALL
    )
    paused_reason = models.CharField(_("paused because"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The content's fingerprint when it was submitted: approval compares it with the content now.
    submitted_fingerprint = models.CharField(
        _("fingerprint at submission"), max_length=64, blank=True, editable=False
    )
    # Delivery counts per status, kept when retention deletes the per-recipient rows.
    archived_counts = models.JSONField(
        _("archived delivery counts"), null=True, blank=True, editable=False
    )
    # A copy's writers are its source's too (four eyes): see lifecycle.contributors.
    duplicated_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("duplicate of"),
        editable=False,
    )
    # An occurrence of a recurring broadcast, made once for its time (the unique constraint).
    series = models.ForeignKey(
        "BroadcastSeries",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="occurrences",
        verbose_name=_("recurring broadcast"),
        editable=False,
    )
    occurrence_at = models.DateTimeField(_("occurrence"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at"]
        constraints = [
            # A restart or a double run of the scheduler cannot make an occurrence twice.
            models.UniqueConstraint(
                fields=["series", "occurrence_at"], name="one_broadcast_per_occurrence"
            ),
            models.CheckConstraint(
                condition=Q(series__isnull=True, occurrence_at__isnull=True)
                | Q(series__isnull=False, occurrence_at__isnull=False),
                name="occurrence_has_its_series",
            ),
        ]
        permissions = [
            ("approve_broadcast", _("Can approve, schedule, send, pause and cancel broadcasts")),
            ("send_emergency_alone", _("Can approve and send an emergency alone")),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="broadcast_due_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_emergency(self) -> bool:
        return self.priority == self.Priority.EMERGENCY

    @classmethod
    def priority_for(cls, category: str) -> str:
        """One field decides emergency: the emergency category, and only it, goes out with
        emergency priority (at once, in quiet hours too, ahead of every other broadcast)."""
        return cls.Priority.EMERGENCY if category == cls.Category.EMERGENCY else cls.Priority.NORMAL

    @property
    def content_fingerprint(self) -> str:
        """SHA-256 over the content four eyes approve (CONTENT_FIELDS), canonical JSON."""
        return content_fingerprint(self, self.CONTENT_FIELDS)


# An emergency is never planned ahead: a recurring broadcast is of any other category.
SERIES_CATEGORIES = [
    (value, label) for value, label in Broadcast.Category.choices if value != "emergency"
]


class BroadcastSeries(models.Model):
    """A recurring broadcast (the weekly waste collection, the monthly council meeting): one text
    and a recurrence rule, approved once for the series. Each occurrence becomes a broadcast of
    its own, already approved, carrying the text the series was approved with."""

    # Copied to each occurrence (its priority follows the category, never an emergency's).
    OCCURRENCE_FIELDS = (
        "title",
        "body",
        "category",
        "template_id",
        "template_parameters",
        "media_url",
        "is_public",
    )
    # What the series' approval covers: the text and when it goes out.
    CONTENT_FIELDS = (*OCCURRENCE_FIELDS, "frequency", "interval", "starts_at", "ends_on")

    class Frequency(models.TextChoices):
        DAILY = "daily", _("every day")
        WEEKLY = "weekly", _("every week, on the same weekday")
        MONTHLY = "monthly", _("every month, on the same day")
        # The council meeting: "the first Tuesday of the month" (the fifth becomes the last).
        MONTHLY_WEEKDAY = (
            "monthly_weekday",
            _("every month, on the same weekday (e.g. the first Tuesday)"),
        )

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        AWAITING_APPROVAL = "awaiting_approval", _("awaiting approval")
        APPROVED = "approved", _("approved")
        ENDED = "ended", _("ended")

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    category = models.CharField(_("category"), max_length=32, choices=SERIES_CATEGORIES)
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="series",
        verbose_name=_("template"),
    )
    template_parameters = models.JSONField(_("template parameters"), default=list, blank=True)
    media_url = models.URLField(_("media link"), blank=True)
    is_public = models.BooleanField(_("show in the public archive"), default=True)
    frequency = models.CharField(_("repeats"), max_length=16, choices=Frequency.choices)
    interval = models.PositiveSmallIntegerField(
        _("every how many"),
        default=1,
        help_text=_("1: every week (or day, or month); 2: every other one."),
    )
    starts_at = models.DateTimeField(
        _("first sending"),
        help_text=_("The day and time of the first one; the others follow the rule."),
    )
    ends_on = models.DateField(_("last day"), null=True, blank=True)
    audience = models.CharField(
        _("recipients"),
        max_length=16,
        choices=Broadcast.Audience.choices,
        default=Broadcast.Audience.ALL,
    )
    status = models.CharField(
        _("status"), max_length=32, choices=Status.choices, default=Status.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    submitted_fingerprint = models.CharField(
        _("fingerprint at submission"), max_length=64, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("recurring broadcast")
        verbose_name_plural = _("recurring broadcasts")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(interval__gte=1), name="series_interval_positive")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def content_fingerprint(self) -> str:
        return content_fingerprint(self, self.CONTENT_FIELDS)


class StepEvent(models.Model):
    """Who took a step, when, and their note: the fields a broadcast's and a series' histories
    share."""

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        SUBMITTED = "submitted", _("submitted for approval")
        RETURNED = "returned to draft", _("returned to draft")
        WITHDRAWN = "withdrawn", _("withdrawn to be changed")
        APPROVED = "approved", _("approved")
        EMERGENCY = "approved and sent (emergency)", _("approved and sent (emergency)")
        STARTED = "sending started", _("sending started")
        PAUSED = "paused", _("paused")
        RESUMED = "resumed", _("resumed")
        CANCELLED = "cancelled", _("cancelled")
        RETRYING = "retrying failed deliveries", _("retrying failed deliveries")
        TEST_SENT = "test sent", _("test sent")
        SENT = "sent", _("sent")
        EDITED = "edited", _("content edited")
        CONFIRMED = "emergency confirmed", _("emergency confirmed by another approver")
        DUPLICATED = "duplicated", _("made as a copy of another broadcast")
        # An occurrence's approval is its series': the approver and time are the series'.
        SERIES_APPROVED = "approved with its series", _("approved with its recurring broadcast")
        # A recurring broadcast's own steps (BroadcastSeriesEvent).
        REOPENED = "reopened to be changed", _("reopened to be changed (approval withdrawn)")
        ENDED = "ended", _("ended")
        # The calendar's steps on an approved broadcast (the old time in the note).
        RESCHEDULED = "rescheduled", _("rescheduled")
        SENT_NOW = "sent now", _("sent now instead of at its time")

    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


class BroadcastEvent(StepEvent):
    """Who moved a broadcast through its lifecycle, and when."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="events")

    class Meta(StepEvent.Meta):
        verbose_name = _("broadcast event")
        verbose_name_plural = _("broadcast events")


class BroadcastSeriesEvent(StepEvent):
    """Who moved a recurring broadcast through its steps (and changed it), and when: four eyes
    reads its contributors from here, as for a broadcast."""

    series = models.ForeignKey(BroadcastSeries, on_delete=models.CASCADE, related_name="events")

    class Meta(StepEvent.Meta):
        verbose_name = _("recurring broadcast event")
        verbose_name_plural = _("recurring broadcast events")


class Delivery(models.Model):
    """One broadcast to one subscriber: created once, claimed before sending, never twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        DELIVERED = "delivered", _("delivered")
        READ = "read", _("read")
        FAILED = "failed", _("failed")
        # The request may have reached Meta but its answer was lost (a timeout, a worker that
        # died mid-send): never sent again by itself; its status webhook, if one comes, settles it.
        UNKNOWN = "unknown", _("outcome unknown")
        # Not sent, by design: outside the citizen's 24-hour window with no template that may
        # reach them (a broadcast approved for those inside the window only).
        SKIPPED = "skipped", _("skipped")

    # No database constraints on these two: fan-out inserts a million rows at once, and
    # PostgreSQL would look up (and lock) the broadcast and the subscriber for each of them,
    # which measured two thirds of the whole INSERT. They cannot dangle: deliveries are made in
    # one statement from the subscribers that exist, for an approved broadcast; only a draft,
    # which has none, can be deleted, and a subscriber never is (their consent records protect
    # them; erasure pseudonymises). Django still cascades deletes. The broadcast needs no index
    # of its own either: the unique (broadcast, subscriber) and (broadcast, status) start with it.
    broadcast = models.ForeignKey(
        Broadcast,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
    )
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    wamid = models.CharField(_("message id"), max_length=256, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # Set (and committed) right before the request leaves: a claimed row without it never
    # reached Meta, so it may be sent again.
    attempted_at = models.DateTimeField(_("attempted at"), null=True, blank=True)
    error_code = models.IntegerField(_("error code"), null=True, blank=True)
    error_title = models.CharField(_("error"), max_length=300, blank=True)
    error_retryable = models.BooleanField(_("retryable"), default=False)
    queued_at = models.DateTimeField(_("queued at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["broadcast", "subscriber"], name="one_delivery_per_subscriber"
            ),
            models.UniqueConstraint(
                fields=["wamid"], condition=Q(wamid__isnull=False), name="delivery_wamid_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["broadcast", "status"], name="delivery_broadcast_status_idx"),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="delivery_sending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}/{self.subscriber_id} {self.status}"


class StaffTestNumber(models.Model):
    """A staff member's WhatsApp number that tests may go to, listed by an Administrator: a test
    sends unapproved text from the comune's number, so it never goes anywhere else."""

    phone = models.CharField(_("phone number"), max_length=32, unique=True)
    label = models.CharField(_("whose"), max_length=100)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("added by"),
        editable=False,
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("staff test number")
        verbose_name_plural = _("staff test numbers")
        ordering = ["label"]

    def __str__(self) -> str:
        return f"{self.label} ({mask_address(self.phone)})"
