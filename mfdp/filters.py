"""Filter plumbing shared by every app's lists: one creation-date range, one rule for it."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _


class CreatedBetweenFilterSet(django_filters.FilterSet):
    """`date_from` / `date_to` on `created_at` (inclusive days); an inverted range is an
    error on the form, never an empty list."""

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

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.form.add_error("date_to", _("The end date is before the start date."))
            return False
        return valid
