"""Prepare a fresh local install for `make run`: demo admin, demo key, demo data."""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from audit_events.demo import TENANTS
from audit_events.models import PublisherKey, StoredEvent
from audit_events.services import publisher_key_create
from portal.access.access_file import import_document
from portal.access.demo import DEMO_USERS, demo_access_document, grant_demo_groups


class Command(BaseCommand):
    help = "Create the demo superuser and publisher key, and seed demo events when the store is empty."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=5000)
        parser.add_argument("--port", default="8000")

    def handle(self, *args, events, port, **options):
        path = settings.VAR_DIR / "demo_credentials.json"
        credentials = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@example.com", password)
            credentials["admin"] = password
        # The demo's people and roles, through the same import as any access file.
        new_passwords = {
            name: secrets.token_urlsafe(12)
            for name in DEMO_USERS
            if not User.objects.filter(username=name).exists()
        }
        credentials.update(new_passwords)
        import_document(demo_access_document(new_passwords), actor="bootstrap_demo", allow_superusers=True)
        grant_demo_groups()
        if not PublisherKey.objects.filter(name="demo-publisher").exists():
            _, secret = publisher_key_create(name="demo-publisher", tenants=list(TENANTS))
            credentials["demo-publisher"] = secret
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(credentials, indent=2))

        if not StoredEvent.objects.exclude(tenant__startswith="_").exists():  # _portal: our own
            self.stdout.write(f"Seeding {events} demo events…")
            call_command("seed_demo", events=events, stdout=self.stdout)
            # The dashboard shows each tenant's newest verification: start with one.
            call_command("verify_chain", stdout=self.stdout, stderr=self.stderr)

        url = f"http://127.0.0.1:{port}"
        self.stdout.write("")
        self.stdout.write(f"Portal:   {url}/admin/")
        self.stdout.write("Sign in as any of these demo users:")
        for name, (description, *_rest) in DEMO_USERS.items():
            password = credentials.get(name, "(changed since the demo was set up)")
            self.stdout.write(f"  {name:<17} {password:<20} {description}")
        self.stdout.write(f"API docs: {url}/api/v1/docs")
        if "demo-publisher" in credentials:
            self.stdout.write(
                f"Publish:  curl -H 'Authorization: Bearer {credentials['demo-publisher']}' "
                f"-H 'Content-Type: application/json' -d @event.json {url}/api/v1/events"
            )
        self.stdout.write(f"(credentials are kept in {path})")
        self.stdout.write("")
