"""The status webhooks set aside, for staff to read: nothing here can be added or changed."""

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from webhooks.models import StatusDeadLetter


@admin.register(StatusDeadLetter)
class StatusDeadLetterAdmin(admin.ModelAdmin):
    list_display = ["set_aside_at", "reason", "statuses"]
    list_filter = ["reason"]
    date_hierarchy = "set_aside_at"
    fields = readonly_fields = ("set_aside_at", "reason", "statuses", "body_shown")

    @admin.display(description=_("body (numbers masked)"))
    def body_shown(self, letter: StatusDeadLetter) -> str:
        return format_html("<pre>{}</pre>", json.dumps(letter.body, indent=2, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
