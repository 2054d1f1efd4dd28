from django.db.models import QuerySet

from .models import ApiToken, User


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """All the user's tokens, revoked ones included (they stay for the record), newest first."""
    return ApiToken.objects.filter(user=user)


def active_token_count(*, user: User) -> int:
    return ApiToken.objects.active().filter(user=user).count()
