"""Sign-in: the access audit of sign-ins, the lockout response, TOTP for staff.

Imported once by ``AccessConfig.ready()``; importing it connects the signal
receivers. The portal's admin site (``portal.admin_site``) inherits the TOTP
check from ``TOTPAdminSiteMixin``.

- Every sign-in, refused sign-in, lockout and sign-out is appended to the
  ``_portal`` tenant (``SignedIn``, ``SignInFailed``, ``SignInLockedOut``,
  ``SignedOut``). A refused attempt names the account it tried as its actor
  only when that account exists (otherwise ``unknown-user``): what was typed
  as a username may be a password typed in the wrong box, so it goes only
  into ``details.username``, marked as personal data.
- Lockout is django-axes (settings ``AXES_*``); a second factor refused here
  is sent as Django's ``user_login_failed`` too, so axes counts it and the
  audit records it through the one path.
- With ``PORTAL_REQUIRE_TOTP`` on, staff sign in to the admin with a TOTP
  code (django-otp) and the admin serves only verified sessions. The setting
  is read per request.
"""

import math

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.template import engines

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm

from .audit import record_access

__all__ = [
    "AdminSignInForm",
    "TOTPAdminSignInForm",
    "TOTPAdminSiteMixin",
    "lockout_response",
    "totp_required",
]

_USERNAME_PII = ["/details/username"]
_MAX_USERNAME = 200


# -- access audit ---------------------------------------------------------


def _attempted(username) -> str:
    """The typed username, bounded, as a string (it is only ever data)."""
    return str(username or "")[:_MAX_USERNAME]


def _claimed_actor(username: str) -> dict:
    """The account an attempt claimed, if it exists; else the ``unknown-user`` actor."""
    users = get_user_model()
    claimed = users._default_manager.filter(**{users.USERNAME_FIELD: username}).first() if username else None
    return {"user": claimed} if claimed is not None else {"actor": "unknown-user"}


@receiver(user_logged_in, dispatch_uid="portal.access.signin.signed_in")
def record_signed_in(sender, request, user, **kwargs):
    """``SignedIn``, with the second factor that verified the session, if any."""
    device = getattr(user, "otp_device", None)
    details = {"otp_device": device.persistent_id if device is not None else None}
    record_access("SignedIn", user=user, request=request, details=details)


@receiver(user_login_failed, dispatch_uid="portal.access.signin.sign_in_failed")
def record_sign_in_failed(sender, credentials, request=None, reason="credentials", **kwargs):
    """``SignInFailed``: wrong password, unknown or refused account, locked out, bad code."""
    username = _attempted(credentials.get(get_user_model().USERNAME_FIELD))
    record_access(
        "SignInFailed",
        request=request,
        **_claimed_actor(username),
        details={"username": username, "reason": reason},
        pii=_USERNAME_PII,
    )


@receiver(user_locked_out, dispatch_uid="portal.access.signin.locked_out")
def record_locked_out(sender, request, username, ip_address, **kwargs):
    """``SignInLockedOut``: sent by axes at the limit and on each attempt while locked."""
    username = _attempted(username)
    record_access(
        "SignInLockedOut",
        request=request,
        **_claimed_actor(username),
        details={
            "username": username,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": _lockout_minutes(request),
        },
        pii=_USERNAME_PII,
    )


@receiver(user_logged_out, dispatch_uid="portal.access.signin.signed_out")
def record_signed_out(sender, request, user, **kwargs):
    """``SignedOut`` (nothing when no one was signed in)."""
    if user is not None:
        record_access("SignedOut", user=user, request=request)


def _report_refused(request, username: str, reason: str) -> None:
    """A sign-in refused after the password step, told to axes and the audit alike."""
    user_login_failed.send(
        sender=__name__,
        credentials={get_user_model().USERNAME_FIELD: username},
        request=request,
        reason=reason,
    )


# -- lockout response (settings.AXES_LOCKOUT_CALLABLE) ----------------------

_LOCKOUT_PAGE = """{% extends "admin/base_site.html" %}
{% block title %}Sign-in locked | {{ site_title }}{% endblock %}
{% block breadcrumbs %}{% endblock %}
{% block nav-sidebar %}{% endblock %}
{% block content_title %}<h1>Sign-in locked</h1>{% endblock %}
{% block content %}<p class="errornote">{{ message }}</p>{% endblock %}
"""


def _lockout_minutes(request) -> int:
    return math.ceil(get_cool_off(request).total_seconds() / 60)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """429 with what happened and how long to wait: JSON for scripts, a page for people."""
    minutes = _lockout_minutes(request)
    message = (
        f"Too many failed sign-in attempts for this username from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''} (each further attempt "
        f"restarts the wait), or ask an administrator to lift the lock."
    )
    wants_json = request.headers.get("x-requested-with") == "XMLHttpRequest" or (
        request.accepts("application/json") and not request.accepts("text/html")
    )
    if wants_json:
        response = JsonResponse({"detail": message, "retry_after_seconds": minutes * 60}, status=429)
    else:
        context = {**admin.site.each_context(request), "message": message}
        page = engines["django"].from_string(_LOCKOUT_PAGE).render(context, request)
        response = HttpResponse(page, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


# -- the admin's sign-in form, with TOTP when required ------------------------


def totp_required() -> bool:
    """Whether staff must present a TOTP code (``PORTAL_REQUIRE_TOTP``)."""
    return bool(getattr(settings, "PORTAL_REQUIRE_TOTP", False))


class _ReportRefusalsMixin:
    """Report an account refused after its password matched (e.g. not staff)."""

    def confirm_login_allowed(self, user):
        try:
            super().confirm_login_allowed(user)
        except ValidationError:
            _report_refused(self.request, user.get_username(), "not_staff")
            raise


class AdminSignInForm(_ReportRefusalsMixin, AdminAuthenticationForm):
    """The admin's sign-in form; refusals after the password step are audited too."""


class TOTPAdminSignInForm(_ReportRefusalsMixin, OTPAdminAuthenticationForm):
    """The admin's sign-in form asking for a TOTP code as well (django-otp)."""

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": "Enter the 6-digit code from your authenticator app.",
        "no_device": (
            "Staff sign-in needs an authenticator code, and none is enrolled for this account: "
            "ask an administrator to run `manage.py enrol_totp {username}`."
        ),
    }
    # Prompts for the next step, not refusals: they do not count as failed sign-ins.
    _PROMPTS = frozenset({"token_required", "device_required", "challenge_message"})

    def clean_otp(self, user):
        if user is None:
            return
        try:
            if not any(devices_for_user(user)):
                raise ValidationError(
                    self.otp_error_messages["no_device"].format(username=user.get_username()),
                    code="no_device",
                )
            super().clean_otp(user)
        except ValidationError as error:
            if error.code not in self._PROMPTS:
                _report_refused(self.request, user.get_username(), f"totp_{error.code or 'refused'}")
            raise

    def _chosen_device(self, user):
        # django-otp will not try a token on every device (that would throttle
        # the ones not used); with a single device there is nothing to choose.
        device = super()._chosen_device(user)
        if device is None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device


class TOTPAdminSiteMixin:
    """An ``AdminSite`` mixin: with TOTP required, only TOTP-verified staff get in.

    The portal's site (``portal.admin_site.PortalAdminSite``) inherits it.
    """

    @property
    def login_form(self):
        if totp_required():
            return TOTPAdminSignInForm
        return super().login_form or AdminSignInForm

    @property
    def login_template(self):
        if totp_required():
            return "otp/admin111/login.html"
        return super().login_template

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if not totp_required():
            return True
        # Fail closed if OTPMiddleware is missing and the user was never checked.
        is_verified = getattr(request.user, "is_verified", None)
        return bool(is_verified and is_verified())
