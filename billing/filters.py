import django_filters
from django.utils.translation import gettext_lazy as _

from mfdp.filters import CreatedBetweenFilterSet

from .models import EntryKind, LedgerEntry


class LedgerFilter(CreatedBetweenFilterSet):
    """The statement's filters, shared by the billing page, its exports and the API."""

    kind = django_filters.ChoiceFilter(
        choices=EntryKind.choices, label=_("Kind"), empty_label=_("All kinds")
    )

    class Meta:
        model = LedgerEntry
        fields = ["kind", "date_from", "date_to"]
