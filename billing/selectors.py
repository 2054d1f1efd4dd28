from django.db.models import QuerySet

from accounts.models import User

from .filters import LedgerFilter
from .models import CreditAccount, LedgerEntry


def balance_of(*, user: User) -> int:
    return CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first() or 0


def low_balance_threshold_of(*, user: User) -> int | None:
    """The balance under which the user gets a low-balance e-mail; None when it is off."""
    return (
        CreditAccount.objects.filter(user=user)
        .values_list("low_balance_threshold", flat=True)
        .first()
    )


def statement(*, user: User, params=None) -> LedgerFilter:
    """The user's ledger entries, newest first, filtered by `params` (kind, date_from,
    date_to). Check `.is_valid()` and read `.qs`."""
    # Always bound (an empty dict when no filter is asked for), so it is always validated.
    return LedgerFilter(params or {}, queryset=statement_entries(user=user))


def statement_entries(*, user: User) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account__user=user).select_related("actor")
