"""django-q2 entry points of webhooks (thin: the service holds every rule)."""

from . import services


def deliver(event_id: str) -> int | None:
    """One delivery attempt of an event; safe to run twice (see services.deliver_event).
    Returns the receiver's status code, or None when nothing was sent or nothing answered."""
    attempt = services.deliver_event(event_id=event_id)
    return attempt.status_code if attempt else None
