from rest_framework.throttling import UserRateThrottle


class WebhookTestThrottle(UserRateThrottle):
    """Test events per user: each one makes the web process wait for the receiver."""

    scope = "webhook_test"
