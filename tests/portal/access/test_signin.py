"""Sign-in through the admin's login page: access audit, lockout, session expiry, TOTP."""

import io
import json

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit_events.models import StoredEvent
from tests.portal.test_settings import PRODUCTION, run_django

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct-Horse-battery-9"


def portal_events(event_type):
    rows = StoredEvent.objects.filter(tenant="_portal", event_type=event_type).order_by("position")
    return [json.loads(row.record) for row in rows]


def sign_in(client, username="alice", password=PASSWORD, ip="192.0.2.1", headers=None, **fields):
    """Post the admin's login form from ``ip``; ``fields`` are further form fields."""
    data = {"username": username, "password": password, **fields}
    return client.post(LOGIN, data, REMOTE_ADDR=ip, **(headers or {}))


def signed_in(client):
    """Whether the client's session opens the admin index."""
    return client.get("/admin/").status_code == 200


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def device(alice):
    return TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)


def code(device, drift=0):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + drift):06d}"


# -- access audit ---------------------------------------------------------


def test_sign_in_is_recorded(client, alice):
    response = sign_in(client, ip="192.0.2.7")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    (record,) = portal_events("SignedIn")
    assert record["actor"]["id"] == "user:alice" and record["aggregate_id"] == "user:alice"
    assert record["actor"]["ip"] == "192.0.2.7"
    assert record["payload"]["details"] == {"otp_device": None}


def test_failed_sign_in_is_recorded_with_the_username_as_personal_data(client, alice):
    response = sign_in(client, password="wrong-password-1")
    assert response.status_code == 200 and b"Please enter the correct username and password" in response.content
    (record,) = portal_events("SignInFailed")
    assert record["actor"]["id"] == "user:alice"  # an existing account: the one the attempt claimed
    assert record["payload"]["details"] == {"username": "alice", "reason": "credentials"}
    assert record["pii"] == ["/details/username"]
    assert not portal_events("SignedIn")


def test_a_username_that_names_no_account_stays_out_of_the_actor(client, alice):
    sign_in(client, username="hunter2-Secret!", password="whatever-it-was")
    (record,) = portal_events("SignInFailed")
    assert record["actor"]["id"] == "unknown-user" and record["aggregate_id"] == "unknown-user"
    assert record["payload"]["details"]["username"] == "hunter2-Secret!"
    assert record["pii"] == ["/details/username"]


def test_a_correct_password_refused_by_the_admin_is_recorded(client, alice):
    alice.is_staff = False
    alice.save()
    assert sign_in(client).status_code == 200
    (record,) = portal_events("SignInFailed")
    assert record["payload"]["details"] == {"username": "alice", "reason": "not_staff"}
    assert not signed_in(client)


def test_sign_out_is_recorded(client, alice):
    sign_in(client)
    assert client.post("/admin/logout/").status_code == 200
    (record,) = portal_events("SignedOut")
    assert record["actor"]["id"] == "user:alice"
    assert not signed_in(client)


# -- lockout --------------------------------------------------------------


def fail(client, times, username="alice", ip="192.0.2.1", **extra):
    return [
        client.post(LOGIN, {"username": username, "password": "wrong-password-1"}, REMOTE_ADDR=ip, **extra)
        for _ in range(times)
    ]


def test_four_failures_do_not_lock(client, alice):
    fail(client, 4)
    assert sign_in(client).status_code == 302
    assert not portal_events("SignInLockedOut")


def test_five_failures_lock_out_even_the_right_password(client, alice):
    responses = fail(client, 5)
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    response = sign_in(client)
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed sign-in attempts" in body and "15 minutes" in body
    assert "Traceback" not in body
    assert response["Retry-After"] == "900"
    assert not signed_in(client) and not portal_events("SignedIn")
    locked = portal_events("SignInLockedOut")
    assert len(locked) == 2  # on reaching the limit, and for the refused sixth attempt
    assert locked[-1]["payload"]["details"] == {"username": "alice", "failure_limit": 5, "lockout_minutes": 15}
    assert locked[-1]["pii"] == ["/details/username"]
    assert locked[-1]["actor"]["ip"] == "192.0.2.1"
    assert len(portal_events("SignInFailed")) == 6


def test_lockout_answers_scripts_in_json(client, alice):
    fail(client, 5)
    response = sign_in(client, headers={"HTTP_ACCEPT": "application/json"})
    assert response.status_code == 429
    body = response.json()
    assert body["retry_after_seconds"] == 900
    assert body["detail"].startswith("Too many failed sign-in attempts")


def test_lockout_is_per_username_and_address(client, alice):
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD, is_staff=True)
    fail(client, 5, ip="192.0.2.1")
    assert sign_in(client, ip="192.0.2.1").status_code == 429
    assert sign_in(client, ip="198.51.100.9").status_code == 302  # alice from elsewhere
    client.logout()
    assert sign_in(client, username="bob", ip="192.0.2.1").status_code == 302  # bob from the same address


def test_a_client_sent_forwarded_for_header_does_not_choose_the_address(client, alice):
    for n in range(5):
        fail(client, 1, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = sign_in(client, headers={"HTTP_X_FORWARDED_FOR": "203.0.113.99"})
    assert response.status_code == 429


def test_a_successful_sign_in_clears_earlier_failures(client, alice):
    fail(client, 4)
    assert sign_in(client).status_code == 302
    client.logout()
    fail(client, 4)
    assert sign_in(client).status_code == 302


# -- sessions -------------------------------------------------------------


def test_sessions_end_with_the_browser_and_after_idling():
    assert django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert django_settings.SESSION_SAVE_EVERY_REQUEST is True  # so SESSION_COOKIE_AGE is an idle limit
    assert 0 < django_settings.SESSION_COOKIE_AGE <= 12 * 3600


def test_each_request_pushes_the_idle_expiry_ahead(client, alice):
    sign_in(client)
    first = client.session.get_expiry_date()
    client.get("/admin/")
    assert client.session.get_expiry_date() >= first
    assert client.cookies["sessionid"]["max-age"] == ""  # a browser-session cookie


def test_lockout_settings_come_from_the_environment(tmp_path):
    show = "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)"
    result = run_django(["shell", "-c", show], {"AUDIT_LOCKOUT_FAILURES": "3", "AUDIT_LOCKOUT_MINUTES": "60"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["3", "1:00:00"]
    refused = run_django(["check"], {"AUDIT_LOCKOUT_FAILURES": "0"}, tmp_path)
    assert refused.returncode != 0 and "AUDIT_LOCKOUT_FAILURES='0'" in refused.stderr


# -- TOTP for staff ---------------------------------------------------------


@pytest.fixture
def totp_on(settings):
    settings.PORTAL_REQUIRE_TOTP = True


def test_totp_is_off_by_default_locally_and_on_in_production(tmp_path):
    assert django_settings.PORTAL_REQUIRE_TOTP is False
    show = "from django.conf import settings; print(settings.PORTAL_REQUIRE_TOTP)"
    result = run_django(["shell", "-c", show], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True"


def test_with_totp_a_password_alone_does_not_sign_in(client, device, totp_on):
    response = sign_in(client)
    assert response.status_code == 200
    assert b"Enter the 6-digit code from your authenticator app." in response.content
    assert not signed_in(client) and not portal_events("SignedIn")


def test_with_totp_a_wrong_code_is_refused_and_recorded(client, device, totp_on):
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"
    response = sign_in(client, otp_token=wrong)
    assert response.status_code == 200 and b"Invalid token" in response.content
    assert not signed_in(client)
    (record,) = portal_events("SignInFailed")
    assert record["payload"]["details"] == {"username": "alice", "reason": "totp_invalid_token"}


def test_with_totp_a_valid_code_signs_in(client, device, totp_on):
    response = sign_in(client, otp_token=code(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in(client)
    (record,) = portal_events("SignedIn")
    assert record["payload"]["details"] == {"otp_device": device.persistent_id}


def test_with_totp_a_staff_member_without_a_device_is_told_how_to_enrol(client, alice, totp_on):
    response = sign_in(client, otp_token="123456")
    assert response.status_code == 200
    assert b"enrol_totp alice" in response.content
    assert not signed_in(client)
    (record,) = portal_events("SignInFailed")
    assert record["payload"]["details"]["reason"] == "totp_no_device"


def test_with_totp_an_unverified_session_does_not_open_the_admin(client, alice, device, totp_on, settings):
    client.force_login(alice)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    settings.PORTAL_REQUIRE_TOTP = False
    assert signed_in(client)


def test_with_totp_wrong_codes_count_towards_the_lockout(client, device, totp_on):
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"
    responses = [sign_in(client, otp_token=wrong) for _ in range(5)]
    assert responses[-1].status_code == 429
    assert portal_events("SignInLockedOut")


def test_the_admin_login_page_asks_for_a_code_only_when_required(client, settings):
    assert b"otp_token" not in client.get(LOGIN).content
    settings.PORTAL_REQUIRE_TOTP = True
    assert b'name="otp_token"' in client.get(LOGIN).content


# -- enrolment --------------------------------------------------------------


def test_enrol_totp_prints_an_otpauth_url_and_a_qr_code(alice):
    out, err = io.StringIO(), io.StringIO()
    call_command("enrol_totp", "alice", stdout=out, stderr=err)
    url = out.getvalue().strip()
    assert url.startswith("otpauth://totp/Compliance%20portal%3Aalice?secret=")
    assert "issuer=Compliance%20portal" in url
    assert "\u2588" in err.getvalue() or "\u2580" in err.getvalue()  # the QR code's blocks
    (device,) = TOTPDevice.objects.filter(user=alice)
    assert device.confirmed
    (record,) = portal_events("TotpDeviceEnrolled")
    assert record["payload"]["target"] == {"device": device.persistent_id}


def test_enrol_totp_replaces_only_when_asked(alice, device):
    with pytest.raises(CommandError, match="--replace"):
        call_command("enrol_totp", "alice", stdout=io.StringIO(), stderr=io.StringIO())
    call_command("enrol_totp", "alice", "--replace", "--no-qr", stdout=io.StringIO(), stderr=io.StringIO())
    (new,) = TOTPDevice.objects.filter(user=alice)
    assert new.pk != device.pk


def test_enrol_totp_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no active user named 'nobody'"):
        call_command("enrol_totp", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


def test_an_enrolled_code_signs_in(client, alice, settings):
    out = io.StringIO()
    call_command("enrol_totp", "alice", "--no-qr", stdout=out, stderr=io.StringIO())
    settings.PORTAL_REQUIRE_TOTP = True
    device = TOTPDevice.objects.get(user=alice)
    assert sign_in(client, otp_token=code(device)).status_code == 302
    assert signed_in(client)
