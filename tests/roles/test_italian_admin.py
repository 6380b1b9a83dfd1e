"""Issue 17, point 7: the roles and their permissions read in Italian in the admin."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection

from roles.models import ADMINISTRATOR, APPROVER, EDITOR, EMERGENCY_SENDER, PRIVACY_OFFICER

pytestmark = pytest.mark.django_db
rename = importlib.import_module("roles.migrations.0003_italian_group_names")


def test_the_role_groups_have_italian_names():
    names = set(Group.objects.values_list("name", flat=True))

    assert {
        "Redattore",
        "Approvatore",
        "Invio emergenze",
        "Responsabile protezione dati",
        "Amministratore",
    } <= names
    assert {EDITOR, APPROVER, EMERGENCY_SENDER, PRIVACY_OFFICER, ADMINISTRATOR} <= names
    assert not names & {"Editor", "Approver", "Administrator"}


def test_an_earlier_english_group_is_renamed_keeping_its_members_and_permissions():
    Group.objects.filter(name=APPROVER).delete()
    old = Group.objects.create(name="Approver")
    old.permissions.set(Group.objects.get(name=EDITOR).permissions.all())
    member = User.objects.create_user("anna", is_staff=True)
    member.groups.add(old)

    rename.to_italian(apps, SimpleNamespace(connection=connection))

    renamed = Group.objects.get(pk=old.pk)
    assert renamed.name == "Approvatore"
    assert list(renamed.user_set.all()) == [member]
    assert renamed.permissions.count() == Group.objects.get(name=EDITOR).permissions.count()


def test_the_group_page_names_permissions_in_the_page_language(admin_client):
    group = Group.objects.get(name=EDITOR)
    url = f"/admin/auth/group/{group.pk}/change/"

    italian = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="it").content.decode()
    english = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Comunicazioni | comunicazione | Può aggiungere: comunicazione" in italian
    assert "Può approvare" in italian and "Can add" not in italian
    assert "Can add broadcast" in english


def test_the_user_page_names_permissions_in_italian(admin_client, editor):
    page = admin_client.get(
        f"/admin/auth/user/{editor.pk}/change/", HTTP_ACCEPT_LANGUAGE="it"
    ).content.decode()

    assert "Può vedere: comunicazione" in page
    assert "Can view" not in page
