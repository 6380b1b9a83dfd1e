from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from roles.models import SUBJECT_ACCESS
from subscribers.admin_import import SubscriberImportMixin
from subscribers.models import ConsentRecord, InboundMessage, PrivacyNotice, Subscriber
from subscribers.services.consent import privacy_notice_publish

# Lookups that would rebuild a masked number digit by digit (?phone__startswith=+39333…).
NUMBER_FIELDS = frozenset({"phone", "wa_user_id"})


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the service's own flows: staff may look, never touch. Filtering
    by a number or user id is for those who answer subject-access requests only."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if NUMBER_FIELDS & set(lookup.split("__")) and not request.user.has_perm(SUBJECT_ACCESS):
            return False
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ConsentInline(admin.TabularInline):
    model = ConsentRecord
    fields = ("occurred_at", "action", "channel", "notice", "recorded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(SubscriberImportMixin, ReadOnlyAdmin):
    list_display = ["masked_address", "status", "subscribed_at", "unsubscribed_at"]
    list_filter = ["status"]
    date_hierarchy = "subscribed_at"
    inlines = [ConsentInline]
    fields = (
        "phone",
        "wa_user_id",
        "status",
        "subscribed_at",
        "unsubscribed_at",
        "last_inbound_at",
        "created_at",
    )
    readonly_fields = ["masked_address"]

    def get_fields(self, request: HttpRequest, obj: Subscriber | None = None) -> tuple[str, ...]:
        """The full number only for those who answer subject-access requests."""
        if request.user.has_perm(SUBJECT_ACCESS):
            return self.fields
        return ("masked_address", *(f for f in self.fields if f not in ("phone", "wa_user_id")))

    @admin.display(description=_("number"))
    def masked_address(self, obj: Subscriber) -> str:
        return obj.masked_address


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "wa_type", "intent", "reply", "reply_error"]
    list_filter = ["intent", "reply", "wa_type"]
    exclude = ["phone", "wa_user_id"]


@admin.register(PrivacyNotice)
class PrivacyNoticeAdmin(admin.ModelAdmin):
    """A notice is published once and then kept as it was: consents point to it."""

    list_display = ["version", "title", "published_at", "is_current"]
    fields = ["version", "title", "body"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        published = privacy_notice_publish(version=obj.version, title=obj.title, body=obj.body)
        obj.pk, obj.published_at, obj.is_current = published.pk, published.published_at, True
