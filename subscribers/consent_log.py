"""The consent log's proof: how a record is fingerprinted, how the chain is checked, and the
signed anchor of the chain's head that the privacy officer keeps outside the database.

Every digest is an HMAC-SHA256 keyed with CONSENT_LOG_KEY, which lives in the environment and
never in the database: whoever holds only the database can neither rewrite a record nor
recompute the chain after it. What the key cannot show, removing the newest records or all of
them, the anchor shows: its signed head and count must still be in the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.models import OuterRef, Q, Subquery

from subscribers.models import ConsentRecord, PrivacyNotice, Subscriber
from subscribers.services.pseudonyms import subscriber_pseudonym_of


def _instant(moment: datetime) -> str:
    """An instant as the database reads it back, whatever offset it was written with: UTC, to
    the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _signature(content: dict) -> str:
    key = settings.CONSENT_LOG_KEY.encode()
    return hmac.new(key, _canonical(content), hashlib.sha256).hexdigest()


def privacy_notice_hash(notice: PrivacyNotice) -> str:
    """SHA-256 of what a citizen read: the notice's version, title and text."""
    content = {"version": notice.version, "title": notice.title, "body": notice.body}
    return hashlib.sha256(_canonical(content)).hexdigest()


def consent_digest(record: ConsentRecord, previous_hash: str) -> str:
    """HMAC-SHA256 over what the record proves and the previous record's hash.

    The subscriber is named by id and by keyed pseudonym, not by number, so that pseudonymising
    an unsubscribed citizen's number later leaves the chain verifiable.
    """
    return _signature(
        {
            "sequence": record.sequence,
            "previous_hash": previous_hash,
            "subscriber": record.subscriber_id,
            "subscriber_pseudonym": record.subscriber_pseudonym,
            "action": record.action,
            "channel": record.channel,
            "notice": record.notice_id,
            "notice_hash": record.notice_hash,
            "occurred_at": _instant(record.occurred_at),
            "recorded_at": _instant(record.recorded_at),
            "evidence": record.evidence,
        }
    )


@dataclass(frozen=True)
class ChainBreak:
    record_id: int
    sequence: int
    reason: str

    def __str__(self) -> str:
        return f"Consent record {self.record_id} (sequence {self.sequence}): {self.reason}."


def _chain_problem(record: ConsentRecord, expected_sequence: int, previous_hash: str) -> str:
    if record.sequence > expected_sequence:
        return f"records {expected_sequence}–{record.sequence - 1} are missing"
    if record.sequence < expected_sequence:
        return "out of order"
    if record.previous_hash != previous_hash:
        return "the record before it was changed or removed"
    if not hmac.compare_digest(consent_digest(record, previous_hash), record.hash):
        return "its content was altered"
    return ""


def _number_changes() -> dict[int, list[tuple[int, str]]]:
    """For each subscriber who changed number: the sequence of each `number_changed` record, in
    order, with the pseudonym of the number they left (which that record's evidence names)."""
    changes: dict[int, list[tuple[int, str]]] = defaultdict(list)
    records = ConsentRecord.objects.filter(action=ConsentRecord.Action.NUMBER_CHANGED)
    for subscriber_id, sequence, evidence in records.order_by("sequence").values_list(
        "subscriber_id", "sequence", "evidence"
    ):
        previous = evidence.get("previous_pseudonym") if isinstance(evidence, dict) else None
        changes[subscriber_id].append((sequence, str(previous or "")))
    return changes


def _pseudonym_when(record: ConsentRecord, number_changes: dict[int, list[tuple[int, str]]]) -> str:
    """The pseudonym of the number the record's subscriber had when it was appended: the one
    they left at their next change of number, or, with none since, their number's now."""
    for sequence, previous in number_changes.get(record.subscriber_id, ()):
        if sequence > record.sequence:
            return previous
    return subscriber_pseudonym_of(subscriber=record.subscriber)


def consent_chain_breaks(records: Iterable[ConsentRecord]) -> Iterator[ChainBreak]:
    """Every record, in sequence order, whose content or place in the chain was changed, or
    whose subscriber's number (then: a change of number is a record too) or notice's text is no
    longer the one it bound.

    After a break the check goes on from the broken record, so that each tampering is reported,
    not only the first. Give the records with their subscriber (select_related).
    """
    notice_hashes = {n.pk: (n.version, privacy_notice_hash(n)) for n in PrivacyNotice.objects.all()}
    number_changes = _number_changes()
    expected_sequence, previous_hash = 1, ""
    for record in records:
        reasons = [_chain_problem(record, expected_sequence, previous_hash)]
        if not reasons[0]:
            if _pseudonym_when(record, number_changes) != record.subscriber_pseudonym:
                reasons.append("it was given by another number than its subscriber's")
            version, notice_hash = notice_hashes[record.notice_id]
            if notice_hash != record.notice_hash:
                reasons.append(f"the text of privacy notice {version} was changed")
        if any(reasons):
            yield ChainBreak(record.pk, record.sequence, "; ".join(r for r in reasons if r))
        expected_sequence, previous_hash = record.sequence + 1, record.hash


def consent_status_mismatches() -> Iterator[str]:
    """Subscribers whose status is not what their latest consent event (by the citizen's own
    time) says: subscribed after a grant, unsubscribed after a withdrawal or with no event."""
    latest = ConsentRecord.objects.filter(
        subscriber=OuterRef("pk"),
        action__in=[ConsentRecord.Action.GRANTED, ConsentRecord.Action.WITHDRAWN],
    ).order_by("-occurred_at", "-sequence")
    subscribed = Q(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.UNREACHABLE])
    granted = Q(latest_action=ConsentRecord.Action.GRANTED)
    withdrawn_or_none = Q(latest_action=ConsentRecord.Action.WITHDRAWN) | Q(
        latest_action__isnull=True
    )
    mismatched = (
        Subscriber.objects.annotate(
            latest_action=Subquery(latest.values("action")[:1]),
            latest_record=Subquery(latest.values("pk")[:1]),
        )
        .filter((granted & ~subscribed) | (withdrawn_or_none & subscribed))
        .order_by("pk")
        .values_list("pk", "status", "latest_action", "latest_record")
    )
    for pk, status, action, record_id in mismatched.iterator(chunk_size=2000):
        if action is None:
            yield f"Subscriber {pk} is {status}, but no consent event is theirs."
        else:
            yield (
                f"Subscriber {pk} is {status}, but their latest consent event "
                f"(record {record_id}) is {action}."
            )


# --- The anchor --------------------------------------------------------------------------------


class InvalidAnchor(Exception):
    """An anchor that the application did not sign, or that is not an anchor at all."""


@dataclass(frozen=True)
class ConsentAnchor:
    """The chain's head and count at an instant, signed with CONSENT_LOG_KEY.

    One JSON object per line; `signature` is the HMAC-SHA256 of the canonical JSON (sorted keys,
    no spaces) of the other three fields, so that the privacy officer can check it without us.
    """

    at: str
    count: int
    head: str
    signature: str

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def signed(self) -> dict:
        return {"at": self.at, "count": self.count, "head": self.head}


def consent_anchor_make(*, now: datetime) -> ConsentAnchor:
    """The anchor of the chain as it is now."""
    last = ConsentRecord.objects.order_by("-sequence").only("sequence", "hash").first()
    at, count, head = _instant(now), last.sequence if last else 0, last.hash if last else ""
    return ConsentAnchor(
        at=at,
        count=count,
        head=head,
        signature=_signature({"at": at, "count": count, "head": head}),
    )


def consent_anchor_last(path: Path) -> ConsentAnchor | None:
    """The last anchor of a file of anchors (one per line); None if it holds none yet.

    Raises InvalidAnchor if that line is not an anchor signed with CONSENT_LOG_KEY, and OSError
    if the file cannot be read.
    """
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        fields = json.loads(lines[-1])
        anchor = ConsentAnchor(
            at=str(fields["at"]),
            count=int(fields["count"]),
            head=str(fields["head"]),
            signature=str(fields["signature"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidAnchor(f"the last line of {path} is not an anchor") from exc
    if not hmac.compare_digest(_signature(anchor.signed()), anchor.signature):
        raise InvalidAnchor(f"the last anchor in {path}: its signature is not valid")
    return anchor


def consent_anchor_problems(anchor: ConsentAnchor) -> list[str]:
    """What the chain lost since the anchor: its newest records, or all of it, or its history
    (the record the anchor signed as the head is no longer the same)."""
    count = ConsentRecord.objects.count()
    if count < anchor.count:
        return [
            f"The anchor of {anchor.at} counts {anchor.count} records, the log has {count}: "
            "records were removed."
        ]
    if anchor.count == 0:
        return []
    head = ConsentRecord.objects.filter(sequence=anchor.count).values_list("hash", flat=True)
    if list(head) != [anchor.head]:
        return [
            f"Record {anchor.count} is not the head the anchor of {anchor.at} signed: the chain "
            "was rewritten."
        ]
    return []


@dataclass(frozen=True)
class ConsentLogCheck:
    count: int
    head: str
    problems: list[str]


def consent_log_verify(*, anchor: ConsentAnchor | None) -> ConsentLogCheck:
    """Check the whole log: every break of the chain, every subscriber whose status is not their
    latest consent, and, given the last anchor, what the chain lost since."""
    records = ConsentRecord.objects.select_related("subscriber").order_by("sequence")
    problems = [str(b) for b in consent_chain_breaks(records.iterator(chunk_size=2000))]
    problems += consent_status_mismatches()
    if anchor is not None:
        problems += consent_anchor_problems(anchor)
    last = ConsentRecord.objects.order_by("-sequence").only("sequence", "hash").first()
    return ConsentLogCheck(
        count=ConsentRecord.objects.count(), head=last.hash if last else "", problems=problems
    )
