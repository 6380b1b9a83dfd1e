"""Reads of the broadcasts app."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from broadcasts.models import Broadcast, Delivery


@dataclass(frozen=True)
class DeliveryCounts:
    total: int
    queued: int  # waiting, including rows being sent right now
    sent: int  # accepted by WhatsApp, not (yet) confirmed delivered
    delivered: int
    read: int
    failed: int

    @property
    def done(self) -> int:
        return self.total - self.queued

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def broadcast_delivery_counts(*, broadcast_id: int) -> DeliveryCounts:
    status = Delivery.Status
    counts = Delivery.objects.filter(broadcast_id=broadcast_id).aggregate(
        total=Count("id"),
        queued=Count("id", filter=Q(status__in=[status.QUEUED, status.SENDING])),
        sent=Count("id", filter=Q(status=status.SENT)),
        delivered=Count("id", filter=Q(status=status.DELIVERED)),
        read=Count("id", filter=Q(status=status.READ)),
        failed=Count("id", filter=Q(status=status.FAILED)),
    )
    return DeliveryCounts(**counts)


def broadcast_failed_deliveries(*, broadcast_id: int) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(broadcast_id=broadcast_id, status=Delivery.Status.FAILED)
        .select_related("subscriber")
        .order_by("id")
    )


def emergency_is_sending() -> bool:
    return Broadcast.objects.filter(
        priority=Broadcast.Priority.EMERGENCY, status=Broadcast.Status.SENDING
    ).exists()
