"""Django's user and group pages, with every permission named in the page's language.

Django stores a permission's name in English when it creates it ("Can add broadcast"); the
widgets here name it from the model's translated verbose name instead, and the project's own
permissions through their translated msgids."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import ManyToManyField
from django.forms import ModelMultipleChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext

_DEFAULT_ACTIONS = {
    "add": "Can add %(model)s",
    "change": "Can change %(model)s",
    "delete": "Can delete %(model)s",
    "view": "Can view %(model)s",
}


def permission_label(permission: Permission) -> str:
    """ "Comunicazioni | comunicazione | Può aggiungere comunicazione"."""
    app_label = permission.content_type.app_label
    model = permission.content_type.model_class()
    try:
        app_name = apps.get_app_config(app_label).verbose_name
    except LookupError:  # an app removed since its permissions were made
        app_name = app_label
    action, _sep, model_name = permission.codename.partition("_")
    if model is not None and action in _DEFAULT_ACTIONS and model_name == model._meta.model_name:
        name = gettext(_DEFAULT_ACTIONS[action]) % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)
    model_label = model._meta.verbose_name if model is not None else permission.content_type.model
    return f"{app_name} | {model_label} | {name}"


class PermissionChoiceField(ModelMultipleChoiceField):
    def label_from_instance(self, obj: Permission) -> str:
        return permission_label(obj)


def _with_labels(db_field: ManyToManyField[Any, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    if db_field.related_model is Permission:
        kwargs["form_class"] = PermissionChoiceField
    return kwargs


class RoleGroupAdmin(GroupAdmin):
    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest | None = None, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        return super().formfield_for_manytomany(db_field, request, **_with_labels(db_field, kwargs))


class StaffUserAdmin(UserAdmin):
    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        return super().formfield_for_manytomany(db_field, request, **_with_labels(db_field, kwargs))


admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)
admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
