"""A user's own API tokens: list, make (the token is shown on that one response), revoke. And the same
list of a whole clinic for its admins, who may revoke any of them (docs/authentication.md, "API tokens")."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import policy, tokens
from accounts.api_tokens.forms import NewTokenForm
from accounts.models import ApiToken, Membership, TokenScope
from portal.decorators import tenant_action_required


def _rows(token_list) -> list[dict]:
    now = timezone.now()
    return [
        {
            "token": token,
            "state": token.state_at(now),
            "scopes": [scope.label for scope in TokenScope if scope.value in token.scopes],
        }
        for token in token_list
    ]


def _list_page(request: HttpRequest, form: NewTokenForm) -> HttpResponse:
    administered = [
        member.tenant
        for member in Membership.objects.filter(user=request.user, tenant__is_active=True).select_related(
            "tenant"
        )
        if policy.can(request.user, policy.Action.MANAGE_API_TOKENS, member.tenant)
    ]
    return render(
        request,
        "accounts/api_tokens.html",
        {"rows": _rows(tokens.tokens_of(request.user)), "form": form, "administered": administered},
    )


@never_cache
@login_required
@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, NewTokenForm(user=request.user))


@never_cache
@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = NewTokenForm(request.POST, user=request.user)
    if not form.is_valid():
        return _list_page(request, form)
    try:
        token, plaintext = tokens.issue_token(
            request.user,
            form.cleaned_data["tenant"],
            scopes=[TokenScope(scope) for scope in form.cleaned_data["scopes"]],
            expires_in_days=form.cleaned_data["expires_in_days"],
            name=form.cleaned_data["name"],
            request=request,
        )
    except tokens.TokenRefused as refusal:
        form.add_error(None, str(refusal))
        return _list_page(request, form)
    # The only response that ever carries the token: never_cache keeps it out of caches, and the list
    # page never shows more than the prefix.
    return render(
        request, "accounts/api_token_created.html", {"row": _rows([token])[0], "plaintext": plaintext}
    )


@login_required
@require_POST
def revoke_own_token(request: HttpRequest, token_id: int) -> HttpResponse:
    # Only the user's own: anyone else's token is, to them, a token that does not exist.
    token = get_object_or_404(tokens.tokens_of(request.user), pk=token_id)
    member = policy.membership(request.user, token.tenant)
    if tokens.revoke_token(token, request=request, actor_role=member.role if member else "", by="self"):
        messages.success(request, f"Token “{token.name or token.prefix}” revoked: it no longer works.")
    return redirect("api-tokens")


@tenant_action_required(policy.Action.MANAGE_API_TOKENS)
@require_GET
@never_cache
def clinic_token_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return render(
        request,
        "accounts/clinic_api_tokens.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "rows": _rows(tokens.tokens_of_clinic(request.tenant)),
        },
    )


@tenant_action_required(policy.Action.MANAGE_API_TOKENS)
@require_POST
def clinic_revoke_token(request: HttpRequest, tenant_slug: str, token_id: int) -> HttpResponse:
    token: ApiToken = get_object_or_404(tokens.tokens_of_clinic(request.tenant), pk=token_id)
    if tokens.revoke_token(token, request=request, actor_role=request.membership.role, by="clinic_admin"):
        messages.success(request, f"Token {token.prefix}… of {token.user.email} revoked.")
    return redirect("clinic-api-tokens", tenant_slug=request.tenant.slug)
