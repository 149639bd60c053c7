"""boto3 clients, configured by the environment alone: credentials, region and
``AWS_ENDPOINT_URL`` (the tests' moto server). Kept apart from ``aws_resources`` (which parses
the template) so that functions calling AWS do not load it on a cold start."""

__all__ = ["aws_client"]


def aws_client(service: str):
    """A boto3 client of ``service``."""
    import boto3

    return boto3.client(service)
