"""Erase a data subject's personal data by destroying their key (crypto-shredding)."""

import json

from django.core.management.base import BaseCommand, CommandError

from audit_events.privacy.erasure import ErasureError, erase_subject
from audit_events.privacy.holds import LegalHoldError


class Command(BaseCommand):
    help = ("Destroy SUBJECT's key in --tenant: their personal data reads as erased everywhere, every hash "
            "stays valid. Prints the signed receipt. Refused under a legal hold.")

    def add_arguments(self, parser):
        parser.add_argument("subject", help="the data subject: their data_subject id, or the aggregate as TYPE:ID")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--reason", required=True, help="why: the request and its reference")

    def handle(self, *args, subject, tenant, reason, **options):
        try:
            receipt = erase_subject(tenant=tenant, subject=subject, reason=reason, actor="command:erase_subject")
        except (ErasureError, LegalHoldError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(receipt, indent=2, sort_keys=True))
