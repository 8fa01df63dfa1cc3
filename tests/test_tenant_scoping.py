import pytest
from django.apps import apps
from django_scopes import ScopeError

from imaging.models import Study
from portal.models import TenantOwned
from portal.tenancy import all_tenants_scope, tenant_scope
from tests.factories import StudyFactory

TENANT_OWNED = [model for model in apps.get_models() if issubclass(model, TenantOwned)]


def test_the_tenant_owned_models_are_the_ones_we_expect():
    assert {model.__name__ for model in TENANT_OWNED} >= {
        "Patient",
        "Study",
        "Series",
        "Instance",
        "StoredObject",
    }


@pytest.mark.parametrize("model", TENANT_OWNED, ids=lambda m: m.__name__)
def test_query_on_a_tenant_owned_model_outside_a_scope_raises(db, model):
    with pytest.raises(ScopeError):
        list(model.objects.all())


def test_a_scope_shows_only_its_own_tenants_rows(tenant, other_tenant):
    mine = StudyFactory(tenant=tenant)
    StudyFactory(tenant=other_tenant)

    with tenant_scope(tenant):
        assert list(Study.objects.all()) == [mine]
        assert not Study.objects.filter(tenant=other_tenant).exists()


def test_the_same_study_uid_in_two_clinics_is_two_studies(tenant, other_tenant):
    first = StudyFactory(tenant=tenant)
    second = StudyFactory(tenant=other_tenant, study_instance_uid=first.study_instance_uid)

    with tenant_scope(tenant):
        assert Study.objects.get(study_instance_uid=first.study_instance_uid) == first
    with tenant_scope(other_tenant):
        assert Study.objects.get(study_instance_uid=first.study_instance_uid) == second


def test_leaving_scope_is_explicit(tenant, other_tenant):
    StudyFactory(tenant=tenant)
    StudyFactory(tenant=other_tenant)

    with all_tenants_scope():
        assert Study.objects.count() == 2
    with pytest.raises(ScopeError):
        Study.objects.count()
