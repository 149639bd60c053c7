"""Retire the local checkpoint-signing key: the next checkpoint is signed by a new one."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit_events.checkpoints.signing import get_checkpoint_signer
from audit_events.checkpoints.signing.local import rotate_local_key


class Command(BaseCommand):
    help = "Move the local Ed25519 checkpoint key aside; the next checkpoint makes and publishes a new one."

    def handle(self, *args, **options):
        if settings.AUDIT_CHECKPOINT_SIGNER != "local":
            raise CommandError("AUDIT_CHECKPOINT_SIGNER is kms: rotate by pointing AUDIT_CHECKPOINT_KMS_KEY_ID at a "
                               "new ECC_NIST_EDWARDS25519 key (the old key stays listed)")
        retired = rotate_local_key()
        get_checkpoint_signer.cache_clear()
        if retired is None:
            self.stdout.write("no local key yet: the first checkpoint makes one")
        else:
            self.stdout.write(f"retired key moved to {retired}; the next checkpoint makes a new key")
