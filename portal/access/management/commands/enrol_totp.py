"""Enrol a TOTP authenticator for a user and print its otpauth:// URL (once, alone on stdout)."""

import io

import qrcode
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.access.audit import record_access
from portal.access.services import user_by_username


class Command(BaseCommand):
    help = (
        "Create a confirmed TOTP device for USERNAME and print its otpauth:// URL "
        "(a QR code of it goes to stderr). Staff need one when PORTAL_REQUIRE_TOTP is on."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="what the device is (shown at sign-in)")
        parser.add_argument(
            "--replace", action="store_true", help="discard the user's existing TOTP devices (e.g. a lost phone)"
        )
        parser.add_argument("--no-qr", action="store_true", help="print the URL only")

    def handle(self, *args, username, name, replace, no_qr, **options):
        if not 0 < len(name) <= 64:
            raise CommandError("--name must be 1 to 64 characters")
        user = user_by_username(username)
        if user is None or not user.is_active:
            raise CommandError(f"no active user named {username!r}")
        with transaction.atomic():
            existing = TOTPDevice.objects.filter(user=user)
            if existing.exists() and not replace:
                raise CommandError(
                    f"{username} already has a TOTP device; use --replace to discard it and enrol a new one"
                )
            replaced, _ = existing.delete()
            device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        record_access(
            "TotpDeviceEnrolled",
            user=user,
            target={"device": device.persistent_id},
            details={"name": name, "replaced": replaced, "via": "command"},
        )
        url = device.config_url
        if not no_qr:
            qr = qrcode.QRCode(border=2)
            qr.add_data(url)
            picture = io.StringIO()
            qr.print_ascii(out=picture, invert=True)  # dark modules as blanks, for a dark terminal
            self.stderr.write(picture.getvalue(), ending="")
        self.stderr.write(f"Enrolled TOTP device {name!r} for {username}.")
        self.stderr.write("Scan the code, or open the URL below, in an authenticator app now: it cannot be shown again.")
        if not user.is_staff:
            self.stderr.write(f"Note: {username} is not staff; only staff sign in to the admin.")
        self.stdout.write(url)
