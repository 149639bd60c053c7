"""Create a personal API token for a user and print it (once, alone on stdout)."""

from django.core.management.base import BaseCommand, CommandError

from portal.access.audit import record_access
from portal.access.services import user_by_username, user_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME; prints the secret once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, *args, username, name, **options):
        user = user_by_username(username)
        if user is None or not user.is_active:
            raise CommandError(f"no active user named {username!r}")
        token, secret = user_token_create(user=user, name=name)
        record_access("ApiTokenCreated", user=user, details={"token": token.key_id, "name": name, "via": "command"})
        self.stderr.write(f"Created token {token.key_id} for {username}; it reads with {username}'s access.")
        self.stderr.write("Store it now: it cannot be shown again.")
        self.stdout.write(secret)
