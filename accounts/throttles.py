"""Limits on what anonymous visitors can repeat: sign-ups and password-reset e-mails per
client address. Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] with the API's."""

from functools import wraps

from django.shortcuts import render
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For past PROXY_COUNT trusted proxies.
    django-axes and every throttle use this one answer."""
    return BaseThrottle().get_ident(request)


def lockout_username(request, credentials) -> str:
    """django-axes counts failures per e-mail as log-in sees it: case and spaces ignored."""
    source = credentials or getattr(request, "POST", {}) or {}
    return str(source.get("username") or "").strip().lower()


class PerAddressThrottle(SimpleRateThrottle):
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class TokenThrottle(SimpleRateThrottle):
    """Per API token (per user when the API is used from a signed-in page session): reads
    (`api_read`) and creations (`api_create`) counted apart."""

    scope = "api_read"

    def allow_request(self, request, view):
        self.scope = "api_read" if request.method in SAFE_METHODS else "api_create"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None  # anonymous requests are counted by address (AnonRateThrottle)
        token_id = getattr(request.auth, "pk", None)
        ident = f"token-{token_id}" if token_id else f"user-{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SignupThrottle(PerAddressThrottle):
    scope = "signup"


class PasswordResetThrottle(PerAddressThrottle):
    scope = "password_reset"


def throttle_posts(throttle_class):
    """Answer 429 with a page that says when to retry once a POST exceeds the rate."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                throttle = throttle_class()
                if not throttle.allow_request(request, None):
                    wait = max(1, round(throttle.wait() or 60))
                    context = {"minutes": max(1, round(wait / 60))}
                    response = render(request, "accounts/throttled.html", context, status=429)
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
