"""The management commands of the design's contract: operators and tests script the product through them."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership, User
from accounts.roles import Role
from portal.models import Tenant
from tests.conftest import ROOT


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_defaults_to_the_first_region_and_derives_the_ae_title(db):
    output = run("create_tenant", "north-clinic", "--name", "North Clinic")

    tenant = Tenant.objects.get(slug="north-clinic")
    assert (tenant.name, tenant.home_region, tenant.ae_title) == ("North Clinic", "eu-1", "NORTH-CLINIC")
    assert "Created tenant north-clinic" in output


def test_create_tenant_accepts_replicas_inside_the_jurisdiction(db):
    run("create_tenant", "eu-clinic", "--name", "EU", "--region", "eu-1", "--replica-region", "eu-2")

    assert Tenant.objects.get(slug="eu-clinic").replica_regions == ["eu-2"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--region", "eu-1", "--replica-region", "us-1"], "outside the home jurisdiction EU"),
        (["--region", "mars-1"], "Unknown storage region 'mars-1'"),
    ],
)
def test_create_tenant_refuses_a_region_that_breaks_residency(db, args, reason):
    with pytest.raises(CommandError, match=reason):
        run("create_tenant", "bad-clinic", "--name", "Bad", *args)
    assert not Tenant.objects.filter(slug="bad-clinic").exists()


def test_create_tenant_refuses_a_taken_slug(tenant):
    with pytest.raises(CommandError, match="slug: Tenant with this Slug already exists"):
        run("create_tenant", tenant.slug, "--name", "Again")


def test_add_member_creates_the_user_with_the_role(tenant):
    run(
        "add_member",
        "New.Doctor@Example.org",
        tenant.slug,
        "radiologist",
        "--password",
        "a-long-passphrase-42",
    )

    user = User.objects.get(email="new.doctor@example.org")
    assert user.check_password("a-long-passphrase-42")
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.RADIOLOGIST


def test_add_member_without_a_password_leaves_the_account_unusable_until_reset(tenant):
    run("add_member", "invited@example.org", tenant.slug, "patient")

    assert not User.objects.get(email="invited@example.org").has_usable_password()


def test_add_member_changes_the_role_of_an_existing_member(tenant, member_factory):
    user = member_factory(tenant, Role.TECHNOLOGIST)

    run("add_member", user.email, tenant.slug, "tenant_admin")

    assert Membership.objects.get(user=user, tenant=tenant).role == Role.TENANT_ADMIN


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["someone@example.org", "no-such-clinic", "patient"], "No tenant with slug 'no-such-clinic'"),
        (["someone@example.org", "alpha", "patient", "--password", "short"], "at least 12 characters"),
        (["not-an-email", "alpha", "patient"], "email: Enter a valid email address"),
    ],
)
def test_add_member_fails_with_a_one_line_reason(tenant, args, reason):
    with pytest.raises(CommandError, match=reason):
        run("add_member", *args)
    assert not User.objects.filter(email__in=["someone@example.org", "not-an-email"]).exists()


def test_seed_demo_is_idempotent_and_prints_every_role(db):
    first = run("seed_demo")
    second = run("seed_demo")

    assert first == second
    for role in Role:
        assert role.label in first
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Membership.objects.filter(tenant__slug="demo").count() == len(Role)
    assert User.objects.get(email="operator@palisade.example").is_superuser


def test_seed_demo_does_not_reveal_a_password_its_user_changed(db):
    run("seed_demo")
    user = User.objects.get(email="billing@demo-clinic.example")
    user.set_password("my-own-passphrase-42")
    user.save()

    output = run("seed_demo")

    billing_line = next(line for line in output.splitlines() if line.startswith("billing@"))
    assert billing_line.endswith("(changed by its user)")


def test_a_failing_command_exits_non_zero_with_one_line(db, tmp_path):
    env = {**os.environ, "PALISADE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "add_member", "a@example.org", "nowhere", "patient"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: No tenant with slug 'nowhere'."]
