"""Create a publisher key and print its secret (once, alone on stdout)."""

from django.core.management.base import BaseCommand, CommandError

from audit_events.models import PublisherKey
from audit_events.services import publisher_key_create


class Command(BaseCommand):
    help = "Create a publisher key for one or more tenants; prints the secret once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="a unique name for the key, e.g. the publishing system")
        parser.add_argument(
            "--tenant", action="append", required=True, dest="tenants",
            help="a tenant the key may write (repeat for several)",
        )

    def handle(self, *args, name, tenants, **options):
        if PublisherKey.objects.filter(name=name).exists():
            raise CommandError(f"a publisher key named {name!r} exists already")
        try:
            key, secret = publisher_key_create(name=name, tenants=tenants)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Created publisher key {key.name!r} for {', '.join(key.tenants)}.")
        self.stderr.write("Store the secret now: it cannot be shown again.")
        self.stdout.write(secret)
