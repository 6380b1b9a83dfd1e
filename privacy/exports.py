"""What the privacy officer takes away: the consent log (CSV, XLSX, JSON) and everything held
about one number (a subject-access request).

The consent log is written row by row from a database iterator, so that exporting 100,000
records holds one chunk in memory, never the whole log: CSV and JSON as streamed text, XLSX
through openpyxl's write-only workbook into a temporary file.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone
from import_export import fields, resources, widgets
from openpyxl import Workbook

from comune.spreadsheets import spreadsheet_cell
from subscribers.models import ConsentRecord, InboundMessage, Subscriber

CHUNK_SIZE = 2000


class ConsentRecordResource(resources.ModelResource):
    """A consent record as the export shows it: the full number (the proof names the citizen),
    the privacy-notice version accepted, the evidence and the record's place in the hash chain."""

    sequence = fields.Field(
        attribute="sequence",
        column_name="sequence",
        widget=widgets.IntegerWidget(coerce_to_string=False),
    )
    phone = fields.Field(attribute="subscriber__phone", column_name="phone")
    wa_user_id = fields.Field(attribute="subscriber__wa_user_id", column_name="wa_user_id")
    notice_version = fields.Field(attribute="notice__version", column_name="notice_version")

    class Meta:
        model = ConsentRecord
        fields = [
            "sequence",
            "occurred_at",
            "recorded_at",
            "action",
            "channel",
            "phone",
            "wa_user_id",
            "notice_version",
            "evidence",
            "previous_hash",
            "hash",
        ]
        export_order = fields

    def dehydrate_occurred_at(self, record: ConsentRecord) -> str:
        return timezone.localtime(record.occurred_at).isoformat()

    def dehydrate_recorded_at(self, record: ConsentRecord) -> str:
        return timezone.localtime(record.recorded_at).isoformat()

    def dehydrate_evidence(self, record: ConsentRecord) -> dict:
        return record.evidence

    def rows(self, queryset: QuerySet[ConsentRecord]) -> Iterator[list[Any]]:
        """One list of values per record, read from the database a chunk at a time."""
        export_fields = self.get_export_fields()
        records = queryset.select_related("subscriber", "notice").iterator(chunk_size=CHUNK_SIZE)
        for record in records:
            yield [self.export_field(field, record) for field in export_fields]


def _chunks(lines: Iterable[str]) -> Iterator[str]:
    """Join many small pieces of text into fewer, larger ones for the response."""
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= CHUNK_SIZE:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


def consent_log_csv(queryset: QuerySet[ConsentRecord]) -> Iterator[str]:
    """The log as CSV text, piece by piece; a byte-order mark first so Excel reads UTF-8."""
    resource = ConsentRecordResource()
    line = io.StringIO()
    writer = csv.writer(line)

    def render(row: list[Any]) -> str:
        writer.writerow([spreadsheet_cell(value) for value in row])
        text = line.getvalue()
        line.seek(0)
        line.truncate()
        return text

    def lines() -> Iterator[str]:
        yield "\ufeff" + render(resource.get_export_headers())
        for row in resource.rows(queryset):
            yield render(row)

    yield from _chunks(lines())


def consent_log_json(queryset: QuerySet[ConsentRecord]) -> Iterator[str]:
    """The log as a JSON array of objects, piece by piece."""
    resource = ConsentRecordResource()
    headers = resource.get_export_headers()

    def items() -> Iterator[str]:
        separator = "\n"
        for row in resource.rows(queryset):
            yield separator + json.dumps(dict(zip(headers, row, strict=True)), ensure_ascii=False)
            separator = ",\n"

    yield "["
    yield from _chunks(items())
    yield "\n]\n"


def consent_log_xlsx(queryset: QuerySet[ConsentRecord]) -> IO[bytes]:
    """The log as an XLSX workbook in a temporary file, rewound; the caller closes it."""
    resource = ConsentRecordResource()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="consent log")
    sheet.append(resource.get_export_headers())
    for row in resource.rows(queryset):
        sheet.append([spreadsheet_cell(value) for value in row])
    output = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - the response closes it
    workbook.save(output)
    output.seek(0)
    return output


def _subscriber_data(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "phone": subscriber.phone,
        "wa_user_id": subscriber.wa_user_id,
        "status": subscriber.status,
        "subscribed_at": subscriber.subscribed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "last_keyword_at": subscriber.keyword_at,
        "last_message_at": subscriber.last_inbound_at,
        "stopped_marketing_messages_at": subscriber.marketing_stopped_at,
        "last_marketing_choice_at": subscriber.marketing_preference_at,
        "undeliverable_count": subscriber.undeliverable_count,
        "created_at": subscriber.created_at,
    }


def _deliveries_data(subscriber: Subscriber) -> list[dict[str, Any]]:
    deliveries = subscriber.deliveries.select_related("broadcast").order_by("queued_at", "id")
    return [
        {
            "broadcast": delivery.broadcast.title,
            "status": delivery.status,
            "queued_at": delivery.queued_at,
            "sent_at": delivery.sent_at,
            "delivered_at": delivery.delivered_at,
            "read_at": delivery.read_at,
            "failed_at": delivery.failed_at,
            "error": delivery.error_title,
        }
        for delivery in deliveries
    ]


def _inbound_data(messages: QuerySet[InboundMessage]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": message.wamid,
            "type": message.wa_type,
            "intent": message.intent,
            "keyword_text": message.text,
            "sent_at": message.occurred_at,
            "received_at": message.received_at,
            "reply": message.reply,
        }
        for message in messages.order_by("occurred_at", "id")
    ]


def subject_access_document(*, phone: str) -> dict[str, Any] | None:
    """Everything held about an E.164 number, or None when nothing is held about it."""
    subscriber = Subscriber.objects.filter(phone=phone).first()
    held = Q(phone=phone)
    if subscriber is not None:
        held |= Q(subscriber=subscriber)
    inbound = InboundMessage.objects.filter(held)
    if subscriber is None and not inbound.exists():
        return None
    resource = ConsentRecordResource()
    headers = resource.get_export_headers()
    consents = (
        ConsentRecord.objects.filter(subscriber=subscriber).order_by("sequence")
        if subscriber
        else ConsentRecord.objects.none()
    )
    return {
        "phone": phone,
        "generated_at": timezone.now(),
        "subscriber": _subscriber_data(subscriber) if subscriber else None,
        "consents": [dict(zip(headers, row, strict=True)) for row in resource.rows(consents)],
        "deliveries": _deliveries_data(subscriber) if subscriber else [],
        "inbound_messages": _inbound_data(inbound),
    }


def subject_access_json(document: dict[str, Any]) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
