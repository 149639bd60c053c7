"""Export roles, policies and users in the access-file format (no passwords)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.access.access_file import dump_document, export_document


class Command(BaseCommand):
    help = (
        "Write every role and every active user with access (staff, a role, or attributes) "
        "in the format import_access reads; passwords are never written."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--format",
            choices=["json", "yaml"],
            help="output format (default: yaml for an --output ending in .yaml/.yml, else json)",
        )
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, format, output, **options):
        if format is None:
            format = "yaml" if output and Path(output).suffix.lower() in (".yaml", ".yml") else "json"
        data = export_document()
        text = dump_document(data, format=format)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        self.stderr.write(f"Wrote {len(data['roles'])} roles and {len(data['users'])} users to {output}.")
