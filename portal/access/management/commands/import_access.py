"""Import roles, policies and users from a JSON or YAML access file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.access.access_file import AccessFileError, import_document, load_document

# The audit names this command as the actor: it runs outside any signed-in session.
ACTOR = "import_access"


class Command(BaseCommand):
    help = (
        "Import roles, policies and users from FILE (JSON or YAML; see docs/ACCESS.md). "
        "Validates the whole file first; writes nothing if any error is found."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of a .json, .yaml or .yml access file")
        parser.add_argument(
            "--allow-superusers", action="store_true",
            help="let the file change existing superusers (refused otherwise)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report what would change, without writing"
        )

    def handle(self, *args, file, dry_run, **options):
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text") from None
        try:
            data = load_document(text, filename=path.name)
            summary = import_document(
                data, actor=ACTOR, dry_run=dry_run, source=path.name,
                allow_superusers=options["allow_superusers"],
            )
        except AccessFileError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            count = len(exc.errors)
            raise CommandError(f"{file}: {count} error{'s' if count != 1 else ''}; nothing was imported") from None
        self.stdout.write(f"{summary} (dry run: nothing written)" if dry_run else str(summary))
