"""The consent log's hash chain: how a record is fingerprinted and how the chain is checked."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from subscribers.models import ConsentRecord


def consent_digest(record: ConsentRecord, previous_hash: str) -> str:
    """SHA-256 over what the record proves and the previous record's hash.

    The subscriber is named by id, not by number, so that pseudonymising an unsubscribed
    citizen's number later leaves the chain verifiable.
    """
    content = {
        "sequence": record.sequence,
        "previous_hash": previous_hash,
        "subscriber": record.subscriber_id,
        "action": record.action,
        "channel": record.channel,
        "notice": record.notice_id,
        "occurred_at": record.occurred_at.isoformat(),
        "recorded_at": record.recorded_at.isoformat(),
        "evidence": record.evidence,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    record_id: int
    sequence: int
    reason: str


def consent_chain_first_break(records: Iterable[ConsentRecord]) -> ChainBreak | None:
    """The first record, in sequence order, whose content or place in the chain was changed."""
    expected_sequence, previous_hash = 1, ""
    for record in records:
        if record.sequence != expected_sequence:
            reason = (
                f"records {expected_sequence}–{record.sequence - 1} are missing"
                if record.sequence > expected_sequence
                else "out of order"
            )
            return ChainBreak(record.pk, record.sequence, reason)
        if record.previous_hash != previous_hash:
            return ChainBreak(
                record.pk, record.sequence, "the record before it was changed or removed"
            )
        if consent_digest(record, previous_hash) != record.hash:
            return ChainBreak(record.pk, record.sequence, "its content was altered")
        expected_sequence, previous_hash = expected_sequence + 1, record.hash
    return None
