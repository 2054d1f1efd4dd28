"""Writes and rules of the accounts app: sign-up, API tokens, webhook secrets."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from mfdp.errors import DomainError, InvalidInput

from .models import (
    TOKEN_PREFIX,
    TOKEN_VISIBLE_CHARS,
    ApiToken,
    User,
    hash_token_key,
    new_webhook_secret,
)

# last_used_at is written at most this often, so that reading the API is not a write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


DUPLICATE_EMAIL_MESSAGE = gettext_lazy(
    "An account with this e-mail already exists. Log in or reset the password."
)


class EmailTaken(DomainError):
    code = "email_taken"
    http_status = 409


class TokenLimitReached(DomainError):
    code = "token_limit_reached"
    http_status = 409


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: `key` exists only here, never in the database."""

    token: ApiToken
    key: str


def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create a customer account (the caller has validated the password). Raises EmailTaken
    when the address is in use, also when two sign-ups race for it."""
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as error:
        if User.objects.filter(email__iexact=email.strip()).exists():
            raise EmailTaken(str(DUPLICATE_EMAIL_MESSAGE)) from error
        raise


def api_token_create(*, user: User, name: str) -> IssuedToken:
    """Issue a new personal token for `user` and return its key once.

    Refuses past API_TOKENS_PER_USER active tokens, under a lock on the user row so two
    concurrent requests cannot both slip under the limit.
    """
    name = name.strip()
    if not name:
        raise InvalidInput(_("Give the token a name."))
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        limit = settings.API_TOKENS_PER_USER
        if ApiToken.objects.active().filter(user=user).count() >= limit:
            raise TokenLimitReached(
                ngettext(
                    "You already have %(limit)d active token: revoke it first.",
                    "You already have %(limit)d active tokens: revoke one first.",
                    limit,
                )
                % {"limit": limit}
            )
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=key[: len(TOKEN_PREFIX) + TOKEN_VISIBLE_CHARS],
            key_hash=hash_token_key(key),
        )
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token; idempotent (a revoked token keeps its first revocation time)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The active token of an active user that `key` belongs to, or None.

    Records when the token was last used, at most once per LAST_USED_RESOLUTION.
    """
    if not key.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(key_hash=hash_token_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def webhook_secret_rotate(*, user: User) -> str:
    """Replace the user's webhook signing secret; the old one stops verifying at once."""
    user.webhook_secret = new_webhook_secret()
    user.save(update_fields=["webhook_secret"])
    return user.webhook_secret
