"""Tenant scope: the one place that decides which clinic's rows a request or task may touch.

Two walls. django-scopes makes every query on a tenant-owned model raise unless a scope is active.
On PostgreSQL, row-level security (see portal/rls.py) filters the same tables by a setting on the
connection, so that even raw SQL or a forgotten scope cannot read another clinic's rows.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django_scopes import scope, scopes_disabled

from portal.compiled_query import TEXT, CompiledQuery, columns, instances
from portal.models import Tenant

DB_TENANT_SETTING = "palisade.tenant_id"
DB_ALL_TENANTS_SETTING = "palisade.all_tenants"


@dataclass(frozen=True)
class _DbScope:
    tenant_id: int | None = None
    all_tenants: bool = False


_NO_SCOPE = _DbScope()
_current: ContextVar[_DbScope] = ContextVar("palisade_db_scope", default=_NO_SCOPE)


def _apply_to_connection(connection, db_scope: _DbScope) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
            [
                DB_TENANT_SETTING,
                "" if db_scope.tenant_id is None else str(db_scope.tenant_id),
                DB_ALL_TENANTS_SETTING,
                "on" if db_scope.all_tenants else "off",
            ],
        )


def _apply_to_open_connections(db_scope: _DbScope) -> None:
    # Connections opened later get the scope from the connection_created signal.
    for alias in settings.DATABASES:
        connection = connections[alias]
        if connection.connection is not None:
            _apply_to_connection(connection, db_scope)


def _on_connection_created(sender, connection, **kwargs) -> None:
    # A connection opened inside a scope (or reopened after a drop) must carry the scope too. A pooled
    # connection (Django's psycopg pool sends this signal at each checkout) may come back still carrying
    # the scope of its last borrower, closed inside a tenant_scope after an error: it is given the
    # current scope even when that is no scope at all.
    db_scope = _current.get()
    if db_scope != _NO_SCOPE or connection.settings_dict.get("OPTIONS", {}).get("pool"):
        _apply_to_connection(connection, db_scope)


def connect_signals() -> None:
    connection_created.connect(_on_connection_created, dispatch_uid="palisade-tenant-scope")


@contextmanager
def _db_scope(db_scope: _DbScope) -> Iterator[None]:
    if db_scope == _current.get():
        # Already there (the policy deciding inside a request's scope): no round trip to set it again.
        yield
        return
    token = _current.set(db_scope)
    _apply_to_open_connections(db_scope)
    try:
        yield
    finally:
        _current.reset(token)
        _apply_to_open_connections(_current.get())


@contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block as `tenant`: ORM queries are filtered to it and, on PostgreSQL, so is raw SQL."""
    with scope(tenant=tenant), _db_scope(_DbScope(tenant_id=tenant.pk)):
        yield tenant


@contextmanager
def all_tenants_scope() -> Iterator[None]:
    """Leave tenant scoping. Only for platform administration, migrations and maintenance tasks."""
    with scopes_disabled(), _db_scope(_DbScope(all_tenants=True)):
        yield


def active_tenant(slug: str) -> Tenant | None:
    """The active clinic of this slug, or None."""
    rows = _ACTIVE_TENANT.rows(slug)
    return instances(rows[0], Tenant)[0] if rows else None


# Asked by every request of a clinic's URL: compiled once (portal/compiled_query.py).
_ACTIVE_TENANT = CompiledQuery(
    lambda slug: Tenant.objects.filter(slug=slug, is_active=True).values_list(*columns(Tenant)), TEXT
)


class TenantScopeMiddleware:
    """Resolve the tenant from the URL (`tenant_slug`) and run the request inside its scope.

    Unknown slugs leave `request.tenant` as None: the view then answers 404 to a signed-in user and
    sends an anonymous one to sign in, so neither learns whether a clinic exists. Membership is
    decided by the policy (accounts.policy), not here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        slug = match.kwargs.get("tenant_slug")
        if slug is not None:
            request.tenant = active_tenant(slug)
            if request.tenant is not None:
                with tenant_scope(request.tenant):
                    return self.get_response(request)
            return self.get_response(request)
        if match.namespace == "admin" and request.user.is_active and request.user.is_superuser:
            # Django admin is the platform operators' console over every clinic.
            with all_tenants_scope():
                return self.get_response(request)
        return self.get_response(request)
