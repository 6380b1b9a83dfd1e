"""Importing subscribers from a spreadsheet, with the proof of each citizen's consent.

A comune moving from a phone's broadcast list uploads a CSV or XLSX file with the columns
phone, consent_date (when the citizen consented), consent_evidence (how: "modulo cartaceo n. 123")
and optionally notice_version (the privacy notice they accepted; the current one if empty).
The admin's preview names every row that cannot be imported and why, and writes nothing; the
confirmed rows go through `subscriber_subscribe` like a keyword, appending `granted` records on
the import channel with the importing user and the file as evidence.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources, widgets

from subscribers import selectors
from subscribers.models import ConsentRecord, PrivacyNotice, Subscriber
from subscribers.phones import phone_to_e164
from subscribers.services import consent
from subscribers.services.pseudonyms import subscriber_pseudonym

EVIDENCE_MAX_LENGTH = 500
_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")


class PhoneWidget(widgets.Widget):
    """A number as people write it ("333 123 4567", "0039…", "+39…"), cleaned to E.164."""

    def clean(self, value, row=None, **kwargs) -> str:
        if value is None or not str(value).strip():
            raise ValueError(_("The phone number is missing."))
        phone = phone_to_e164(value)
        if phone is None:
            raise ValueError(_("This is not a valid phone number."))
        return phone

    def render(self, value, obj=None, **kwargs) -> str:
        return value or ""


class ConsentDateWidget(widgets.Widget):
    """A date, or date and time, in ISO (2024-03-15) or Italian (15/03/2024) form, or an XLSX
    date cell. A date alone means the start of that day in the comune's time zone."""

    def clean(self, value, row=None, **kwargs) -> datetime | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        moment = value if isinstance(value, date) else _parse_date(str(value).strip())
        if not isinstance(moment, datetime):
            moment = datetime.combine(moment, time.min)
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)

    def render(self, value, obj=None, **kwargs) -> str:
        return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


def _parse_date(text: str) -> date:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(_("This is not a date: write it as 2024-03-15 or 15/03/2024."))


class SubscriberImportResource(resources.ModelResource):
    """One row per citizen; rows are matched to subscribers by their E.164 number.

    The consent columns are not Subscriber fields: they are carried on the instance during the
    import and handed to the subscriber service when a row is saved.
    """

    phone = fields.Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    consent_date = fields.Field(
        attribute="consent_date", column_name="consent_date", widget=ConsentDateWidget()
    )
    consent_evidence = fields.Field(
        attribute="consent_evidence", column_name="consent_evidence", widget=widgets.CharWidget()
    )
    notice_version = fields.Field(
        attribute="notice_version", column_name="notice_version", widget=widgets.CharWidget()
    )

    class Meta:
        model = Subscriber
        name = gettext_lazy("Subscribers with proof of consent")
        fields = ["phone", "consent_date", "consent_evidence", "notice_version"]
        import_id_fields = ["phone"]
        clean_model_instances = True
        use_transactions = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._row_of_phone: dict[str, int] = {}
        self._notices: dict[str, PrivacyNotice | None] = {}

    def get_instance(self, instance_loader, row):
        """The subscriber with this row's number; an invalid number matches nobody (the row
        is then reported invalid by its phone field)."""
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            return None

    def after_init_instance(self, instance, new, row, **kwargs) -> None:
        instance.consent_date = instance.consent_evidence = instance.notice_version = None

    def import_instance(self, instance, row, **kwargs) -> None:
        """Read the row's columns, then check the consent rules a keyword would meet; every
        problem is reported against its column."""
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for field, message in self._consent_problems(
            instance,
            consent_date=instance.consent_date,
            consent_evidence=instance.consent_evidence,
            notice_version=instance.notice_version,
            row_number=kwargs["row_number"],
            failed=errors.keys(),
        ):
            errors.setdefault(field, []).append(ValidationError(message))
        if errors:
            raise ValidationError(errors)

    def _consent_problems(
        self,
        instance: Subscriber,
        *,
        consent_date: datetime | None,
        consent_evidence: str | None,
        notice_version: str | None,
        row_number: int,
        failed: Collection[str],
    ) -> list[tuple[str, str]]:
        """The row's problems; the consent columns are those the import carries on `instance`."""
        problems = []
        if "phone" not in failed:
            problems += self._phone_problems(instance, row_number=row_number)
        if "consent_date" not in failed:
            if consent_date is None:
                problems.append(("consent_date", _("The consent date is missing.")))
            elif consent_date > timezone.now():
                problems.append(("consent_date", _("The consent date is in the future.")))
            elif (
                not instance.is_subscribed
                and instance.keyword_at
                and consent_date < instance.keyword_at
            ):
                problems.append(
                    (
                        "consent_date",
                        _("The citizen unsubscribed on %(date)s, after this consent.")
                        % {"date": date_format(timezone.localtime(instance.keyword_at))},
                    )
                )
        evidence = (consent_evidence or "").strip()
        if not evidence:
            problems.append(
                (
                    "consent_evidence",
                    _('Say how the citizen consented (e.g. "modulo cartaceo n. 123").'),
                )
            )
        elif len(evidence) > EVIDENCE_MAX_LENGTH:
            problems.append(
                (
                    "consent_evidence",
                    _("The evidence is longer than %(max)s characters.")
                    % {"max": EVIDENCE_MAX_LENGTH},
                )
            )
        if self._notice(notice_version) is None:
            problems.append(("notice_version", self._notice_problem(notice_version)))
        return problems

    def _phone_problems(self, instance: Subscriber, *, row_number: int) -> list[tuple[str, str]]:
        if instance.phone is None:  # no number read: the phone column reports it
            return []
        first_row = self._row_of_phone.setdefault(instance.phone, row_number)
        if first_row != row_number:
            return [("phone", _("The same number is on row %(row)s.") % {"row": first_row})]
        if instance.pk is not None and instance.is_subscribed:
            return [("phone", _("Already subscribed."))]
        if (
            instance.pk is None
            and Subscriber.objects.filter(
                pseudonym=subscriber_pseudonym(address=instance.phone)
            ).exists()
        ):
            return [
                (
                    "phone",
                    _(
                        "This citizen unsubscribed and their number was erased: only they can "
                        "subscribe again, by writing the keyword."
                    ),
                )
            ]
        return []

    def _notice(self, version: str | None) -> PrivacyNotice | None:
        """The notice a row names, or the current one; looked up once per version."""
        version = (version or "").strip()
        if version not in self._notices:
            self._notices[version] = (
                PrivacyNotice.objects.filter(version=version).first()
                if version
                else selectors.privacy_notice_current()
            )
        return self._notices[version]

    @staticmethod
    def _notice_problem(version: str | None) -> str:
        version = (version or "").strip()
        if version:
            return _("No privacy notice has version %(version)s.") % {"version": version}
        return _("No privacy notice is published yet: publish one before importing.")

    def save_instance(self, instance, is_create, row, **kwargs) -> None:
        """Subscribe the citizen through the same service as a keyword; nothing in a preview."""
        if self._is_dry_run(kwargs):
            return
        user = kwargs["user"]
        subscriber, outcome = consent.subscriber_subscribe(
            phone=instance.phone,
            occurred_at=instance.consent_date,
            channel=ConsentRecord.Channel.IMPORT,
            notice=self._notice(instance.notice_version),
            evidence={
                "imported_by": {"id": user.pk, "username": user.get_username()},
                "file": kwargs.get("file_name") or "",
                "row": kwargs["row_number"],
                "evidence": instance.consent_evidence.strip(),
            },
        )
        if outcome != consent.Outcome.CHANGED:
            # The citizen wrote to us between the preview and the confirmation.
            raise ValidationError({"phone": _("Changed since the preview: not imported.")})
        instance.pk = subscriber.pk
