"""Compiled queries (portal/compiled_query.py): the ORM's rows, values and scope rules, compiled once."""

import datetime

import pytest
from django.db import connection
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django_scopes import ScopeError

from accounts.models import Membership, User
from accounts.roles import Role
from imaging.dimse.models import RemoteAE
from portal.compiled_query import DATETIME, INTEGER, TEXT, CompiledQuery, columns, instances
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope


def _tenants_by_slug(slug):
    return Tenant.objects.filter(slug=slug, is_active=True).values_list(*columns(Tenant))


def _members_of(tenant_id):
    return (
        Membership.objects.filter(tenant_id=tenant_id)
        .order_by("user__email")
        .values_list(*columns(Membership), *columns(User, "user"))
    )


def _remote_aes(tenant_id, ae_title):
    return RemoteAE.objects.filter(tenant_id=tenant_id, ae_title=ae_title).values_list(*columns(RemoteAE))


def test_the_rows_are_the_orms_with_each_calls_values(tenant, other_tenant, member_factory):
    other_tenant.replica_regions = ["eu-west"]
    other_tenant.save()
    member_factory(tenant, Role.RADIOLOGIST)
    member_factory(other_tenant, Role.TECHNOLOGIST)
    by_slug = CompiledQuery(_tenants_by_slug, TEXT)
    members = CompiledQuery(_members_of, INTEGER)

    for clinic in (tenant, other_tenant):
        # Dates, booleans and JSON come converted as the ORM converts them, on either database.
        assert by_slug.rows(clinic.slug) == list(_tenants_by_slug(clinic.slug))
        assert members.rows(clinic.pk) == list(_members_of(clinic.pk))
    assert by_slug.rows("no-such-clinic") == []


def test_each_call_reads_the_database_again(tenant):
    by_slug = CompiledQuery(_tenants_by_slug, TEXT)
    assert len(by_slug.rows(tenant.slug)) == 1

    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)

    assert by_slug.rows(tenant.slug) == []


def test_a_call_is_one_query_through_the_connections_cursor(tenant):
    by_slug = CompiledQuery(_tenants_by_slug, TEXT)
    by_slug.rows(tenant.slug)

    with CaptureQueriesContext(connection) as queries:
        by_slug.rows(tenant.slug)

    assert len(queries) == 1
    assert '"portal_tenant"."slug" = ' in queries[0]["sql"]


def test_instances_are_the_models_of_a_row_and_none_for_a_join_that_found_nothing(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    member = CompiledQuery(
        lambda email: User.objects.filter(email=email).values_list(
            *columns(User), *columns(Membership, "memberships")
        ),
        TEXT,
    )

    found_user, membership = instances(member.rows(user.email)[0], User, Membership)
    assert found_user == user and found_user.email == user.email and found_user.is_active is True
    assert membership == Membership.objects.get(user=user) and membership.role == Role.RADIOLOGIST
    assert not found_user._state.adding

    Membership.objects.filter(user=user).delete()
    assert instances(member.rows(user.email)[0], User, Membership)[1] is None


def test_instances_behave_as_the_orms_and_save_as_they_do(tenant):
    row = CompiledQuery(_tenants_by_slug, TEXT).rows(tenant.slug)[0]
    (made,) = instances(row, Tenant)
    orm = Tenant.objects.get(pk=tenant.pk)

    assert {f.attname: getattr(made, f.attname) for f in Tenant._meta.concrete_fields} == {
        f.attname: getattr(orm, f.attname) for f in Tenant._meta.concrete_fields
    }
    assert (made._state.adding, made._state.db) == (False, "default")
    assert made.get_deferred_fields() == set()

    saved = []
    for clinic, name in ((orm, "Renamed by the ORM"), (made, "Renamed clinic")):
        clinic.name = name
        with CaptureQueriesContext(connection) as queries:
            clinic.save(update_fields=["name"])
        saved.append([query["sql"].split()[0] for query in queries])
    # The statements of the ORM's own object: an UPDATE of the row that was read, no INSERT.
    assert saved[0] == saved[1] and "UPDATE" in saved[1] and "INSERT" not in saved[1]
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed clinic"


def test_fields_left_out_are_deferred_and_read_when_asked_for(tenant):
    left_out = ("name", "replica_regions")
    query = CompiledQuery(
        lambda slug: Tenant.objects.filter(slug=slug).values_list(*columns(Tenant, exclude=left_out)), TEXT
    )
    row = query.rows(tenant.slug)[0]
    assert len(row) == len(Tenant._meta.concrete_fields) - 2

    (made,) = instances(row, (Tenant, left_out))

    assert made.get_deferred_fields() == set(left_out)
    assert made.slug == tenant.slug
    with CaptureQueriesContext(connection) as queries:
        assert made.name == tenant.name
    assert len(queries) == 1


def test_a_model_whose_creation_is_listened_to_is_made_by_the_orm(tenant):
    made_for = []

    def listener(sender, instance, **kwargs):
        made_for.append(instance.pk)

    row = CompiledQuery(_tenants_by_slug, TEXT).rows(tenant.slug)[0]
    signals.post_init.connect(listener, sender=Tenant)
    try:
        (made,) = instances(row, Tenant)
    finally:
        signals.post_init.disconnect(listener, sender=Tenant)

    assert made_for == [tenant.pk] and made == tenant


def test_a_row_read_with_the_wrong_models_is_refused(tenant):
    row = CompiledQuery(_tenants_by_slug, TEXT).rows(tenant.slug)[0]

    with pytest.raises(ValueError, match="columns"):
        instances(row, Tenant, Tenant)


def test_a_clinics_rows_are_read_only_inside_its_scope(tenant, other_tenant):
    with tenant_scope(tenant):
        RemoteAE.objects.create(tenant=tenant, ae_title="MODALITY1")
    remote_aes = CompiledQuery(_remote_aes, INTEGER, TEXT, tenant_owned=True)

    with pytest.raises(ScopeError):
        remote_aes.rows(tenant.pk, "MODALITY1")
    with tenant_scope(other_tenant), pytest.raises(ScopeError):
        remote_aes.rows(tenant.pk, "MODALITY1")
    with tenant_scope(tenant):
        (row,) = remote_aes.rows(tenant.pk, "MODALITY1")
    with all_tenants_scope():
        assert remote_aes.rows(tenant.pk, "MODALITY1") == [row]
    # The clinic is a value of the call, not the first caller's scope compiled in.
    with tenant_scope(other_tenant):
        assert remote_aes.rows(other_tenant.pk, "MODALITY1") == []


def test_a_query_of_a_clinics_rows_takes_the_clinic_first():
    with pytest.raises(ValueError, match="clinic"):
        CompiledQuery(
            lambda title: RemoteAE.objects.filter(ae_title=title).values_list("pk"), TEXT, tenant_owned=True
        )


def test_a_placeholder_that_the_orm_converts_is_refused(db):
    # A text column turns an integer into a string while compiling: the placeholder would not reach
    # the SQL as the value of the call.
    by_number = CompiledQuery(lambda number: Tenant.objects.filter(slug=number).values_list("pk"), INTEGER)

    with pytest.raises(ValueError, match="do not reach the SQL unchanged"):
        by_number.rows(5)


def test_only_a_values_list_compiles(db):
    models = CompiledQuery(lambda slug: Tenant.objects.filter(slug=slug), TEXT)
    flat = CompiledQuery(lambda slug: Tenant.objects.filter(slug=slug).values_list("pk", flat=True), TEXT)

    for query in (models, flat):
        with pytest.raises(TypeError, match="values_list"):
            query.rows("x")


def test_each_placeholder_takes_one_value(db):
    by_slug = CompiledQuery(_tenants_by_slug, TEXT)

    with pytest.raises(TypeError, match="1 values expected"):
        by_slug.rows("a", "b")


def test_a_datetime_placeholder_compares_as_the_orm_compares(tenant, other_tenant):
    noon = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    Tenant.objects.filter(pk=tenant.pk).update(live_at=noon)
    Tenant.objects.filter(pk=other_tenant.pk).update(live_at=noon + datetime.timedelta(microseconds=1))

    def live_by(when):
        return Tenant.objects.filter(live_at__lte=when).order_by("pk").values_list("slug")

    live = CompiledQuery(live_by, DATETIME)
    # The same instant in another zone, and the microsecond between the two clinics.
    for when in (
        datetime.datetime(2026, 3, 1, 13, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
        datetime.datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 1, 11, 59, tzinfo=datetime.UTC),
    ):
        assert live.rows(when) == list(live_by(when))
    assert live.rows(noon) == [(tenant.slug,)]

    with pytest.raises(ValueError, match="aware"):
        live.rows(datetime.datetime(2026, 3, 1, 12, 0))
