import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from roles.models import ADMINISTRATOR, EDITOR, PRIVACY_OFFICER
from roles.services import ROLE_PERMISSIONS, roles_sync

pytestmark = pytest.mark.django_db


def test_sync_brings_back_missing_groups_with_their_permissions():
    Group.objects.all().delete()

    roles_sync()

    assert set(Group.objects.values_list("name", flat=True)) == {*ROLE_PERMISSIONS, ADMINISTRATOR}
    officer = Group.objects.get(name=PRIVACY_OFFICER).permissions
    assert officer.count() == len(ROLE_PERMISSIONS[PRIVACY_OFFICER])


def test_sync_keeps_what_an_administrator_granted_by_hand():
    editor = Group.objects.get(name=EDITOR)
    editor.permissions.add(Permission.objects.get(codename="view_privacynotice"))

    roles_sync()

    assert editor.permissions.filter(codename="view_privacynotice").exists()


def test_every_migrate_completes_the_roles():
    Group.objects.get(name=ADMINISTRATOR).permissions.clear()

    call_command("migrate", verbosity=0)

    assert Group.objects.get(name=ADMINISTRATOR).permissions.count() == Permission.objects.count()
