"""The tenant switcher: people with several tenants narrow the portal to one."""

from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .common import request_subject

__all__ = ["current_tenant", "switch_tenant_view", "tenant_switcher_context", "tenants_of"]

SESSION_KEY = "portal_tenant"


def tenants_of(request) -> list[str]:
    """The tenants named in the signed-in person's access attributes, in order."""
    return list(request_subject(request).tenants)


def current_tenant(request) -> str | None:
    """The tenant chosen in the switcher, if it is still one of the person's."""
    chosen = request.session.get(SESSION_KEY)
    if chosen and chosen in tenants_of(request):
        return chosen
    return None


def tenant_switcher_context(request) -> dict:
    tenants = tenants_of(request)
    chosen = request.session.get(SESSION_KEY)
    return {
        "portal_tenants": tenants if len(tenants) > 1 else [],
        "portal_tenant": chosen if chosen in tenants else "",
    }


def switch_tenant_view(request):
    """POST ``tenant`` (empty: all of one's tenants); back to ``next``."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    tenant = request.POST.get("tenant", "")
    if tenant and tenant in tenants_of(request):
        request.session[SESSION_KEY] = tenant
    else:
        request.session.pop(SESSION_KEY, None)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("admin:index")
    return HttpResponseRedirect(target)
