"""The portal's WSGI application on Lambda (Zappa's ``app_function``): the client's address
from API Gateway itself, never from a header the client can write.

Zappa's translation of an API Gateway event sets ``REMOTE_ADDR`` from ``X-Forwarded-For``
(its second-to-last entry). API Gateway appends the real peer to whatever the client sent,
so a client sending ``X-Forwarded-For: 203.0.113.9`` arrives as ``203.0.113.9, <peer>`` and
Zappa would take the forged address, which the access audit records and the sign-in lockout
counts by. API Gateway's own record of the peer is ``requestContext.identity.sourceIp``
(REST API, payload 1.0) or ``requestContext.http.sourceIp`` (HTTP API, payload 2.0);
Zappa hands the event to the application as ``environ["lambda.event"]``.
"""

from .wsgi import application as django_application

__all__ = ["application", "source_ip"]


def source_ip(event: dict) -> str | None:
    """The peer address API Gateway saw for ``event`` (``None`` when it names none)."""
    context = event.get("requestContext") or {}
    for part in ("identity", "http"):
        address = (context.get(part) or {}).get("sourceIp")
        if address:
            return address
    return None


def application(environ, start_response):
    event = environ.get("lambda.event")
    if event is not None:
        address = source_ip(event)
        if address:
            environ["REMOTE_ADDR"] = address
        else:  # a direct invocation: no peer known, and no header is believed
            environ.pop("REMOTE_ADDR", None)
    return django_application(environ, start_response)
