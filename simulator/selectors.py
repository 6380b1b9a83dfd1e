"""Reads of the simulator."""

from django.db.models import QuerySet

from simulator.models import ChatMessage

CHAT_LENGTH = 100


def chat_for(*, address: str) -> list[ChatMessage]:
    """The newest messages between the comune and this address, oldest first."""
    newest: QuerySet[ChatMessage] = ChatMessage.objects.filter(address=address).order_by(
        "-created_at", "-id"
    )
    return list(reversed(newest[:CHAT_LENGTH]))
