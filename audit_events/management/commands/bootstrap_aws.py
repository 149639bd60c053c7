"""Make the stage's AWS resources that are missing (see audit_events.aws_resources)."""

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError

from audit_events.aws_resources import bootstrap_aws


class Command(BaseCommand):
    help = ("Create whatever is missing of the stage's DynamoDB tables (with streams), S3 buckets, SNS topic "
            "and SQS queue against the configured endpoint (AWS_ENDPOINT_URL), as deploy/template.yaml defines "
            "them; idempotent. For local runs and tests: production deploys the template.")

    def handle(self, *args, **options):
        try:
            made = bootstrap_aws()
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"the AWS endpoint refused: {exc}") from None
        for item in made:
            self.stdout.write(str(item))
