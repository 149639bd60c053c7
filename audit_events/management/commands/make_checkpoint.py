"""Sign a checkpoint of each tenant's Merkle log now (or of one tenant's)."""

from django.core.management.base import BaseCommand, CommandError

from audit_events.checkpoints.services import CheckpointRefused, make_checkpoint
from audit_events.models import MerkleLog


class Command(BaseCommand):
    help = "Sign a checkpoint of each tenant's Merkle log that grew since its last one (or of --tenant's)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant")

    def handle(self, *args, tenant=None, **options):
        tenants = sorted(MerkleLog.objects.values_list("tenant", flat=True))
        if tenant is not None:
            if tenant not in tenants:
                raise CommandError(f"--tenant: {tenant!r} has no Merkle log yet (no events projected); "
                                   "run the projector first")
            tenants = [tenant]
        refused = []
        for name in tenants:
            try:
                checkpoint = make_checkpoint(tenant=name)
            except CheckpointRefused as error:
                self.stderr.write(f"{name}: NOT SIGNED: {error}")
                refused.append(name)
                continue
            if checkpoint is None:
                self.stdout.write(f"{name}: nothing new since the last checkpoint")
            else:
                self.stdout.write(f"{name}: checkpoint at {checkpoint.tree_size} events, root "
                                  f"{checkpoint.root_hash}, key {checkpoint.key_id}")
        if refused:
            raise CommandError(f"not signed: {', '.join(refused)}: the log does not continue what was signed "
                               "(see docs/VERIFY.md); investigate before anything else")
