"""Helpers of the broadcast admin's tests: pages, buttons and messages as a user sees them."""

from django.contrib.auth.models import User
from django.urls import reverse

from broadcasts.models import Broadcast, MessageTemplate
from broadcasts.services import authoring
from subscribers.models import Subscriber

A, B, C = "+393331111111", "+393332222222", "+393333333333"


def make_draft(author: User, template: MessageTemplate | None = None, **fields) -> Broadcast:
    values = {
        "title": "Chiusura via Roma",
        "body": "Via Roma chiusa *domani* dalle 8 alle 18.",
        "category": Broadcast.Category.TRAFFIC,
        "template": template,
        "template_parameters": ["via Roma chiusa domani"] if template else [],
        **fields,
    }
    return authoring.broadcast_create(author=author, **values)


def form_data(**overrides) -> dict:
    data = {
        "title": "Chiusura via Roma",
        "body": "Via Roma chiusa *domani*.",
        "category": Broadcast.Category.TRAFFIC,
        "priority": Broadcast.Priority.NORMAL,
        "template": "",
        "template_parameters": "",
        "media_url": "",
        "is_public": "on",
        "scheduled_at_0": "",
        "scheduled_at_1": "",
    }
    return {**data, **overrides}


def masked(phone: str) -> str:
    return Subscriber.objects.get(phone=phone).masked_address


def change_url(broadcast: Broadcast) -> str:
    return reverse("admin:broadcasts_broadcast_change", args=[broadcast.pk])


def action_url(broadcast: Broadcast, action: str) -> str:
    return reverse("admin:broadcasts_broadcast_lifecycle", args=[broadcast.pk, action])


def shown_messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


def buttons(response) -> set[str]:
    """The lifecycle buttons the change page offers."""
    return {item["action"].name for item in response.context["lifecycle_actions"]}


def press(client, broadcast: Broadcast, action: str, **data):
    return client.post(action_url(broadcast, action), data, follow=True)
