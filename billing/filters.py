import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EntryKind, LedgerEntry


class LedgerFilter(django_filters.FilterSet):
    """The statement's filters, shared by the billing page, its exports and the API."""

    kind = django_filters.ChoiceFilter(
        choices=EntryKind.choices, label=_("Kind"), empty_label=_("All kinds")
    )
    date_from = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = LedgerEntry
        fields = ["kind", "date_from", "date_to"]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.form.add_error("date_to", _("The end date is before the start date."))
            return False
        return valid
