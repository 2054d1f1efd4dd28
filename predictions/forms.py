"""Page forms of the predictions app. They collect input only: every rule about a row's
values lives in the schema validation the services run, so the page and the API agree."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .ml.schema import Column, ColumnType, InputSchema


def _range_hint(column: Column) -> str:
    if column.minimum is None or column.maximum is None:
        return ""
    return _("From %(minimum)g to %(maximum)g.") % {
        "minimum": column.minimum,
        "maximum": column.maximum,
    }


def _example_value(column: Column) -> str:
    if column.example is None:
        return ""
    if column.type == ColumnType.BOOLEAN:
        return "yes" if column.example else "no"
    if isinstance(column.example, float):
        return f"{column.example:g}"
    return str(column.example)


def _field_for(column: Column, *, language: str) -> forms.Field:
    label = column.name
    help_parts = [column.describe(language), _range_hint(column)]
    options = {
        "label": label,
        "required": column.required,
        "help_text": " ".join(part for part in help_parts if part),
    }
    empty = [("", "—")] if not column.required else []
    if column.type in (ColumnType.NUMBER, ColumnType.INTEGER):
        attrs = {"step": "1" if column.type == ColumnType.INTEGER else "any"}
        if column.minimum is not None:
            attrs["min"] = f"{column.minimum:g}"
        if column.maximum is not None:
            attrs["max"] = f"{column.maximum:g}"
        widget = forms.NumberInput(attrs=attrs)
    elif column.type == ColumnType.CATEGORY:
        widget = forms.Select(choices=[*empty, *((c, c) for c in column.categories)])
    elif column.type == ColumnType.BOOLEAN:
        widget = forms.Select(choices=[*empty, ("yes", _("yes")), ("no", _("no"))])
    else:
        widget = forms.Textarea(attrs={"rows": 3})
    return forms.CharField(widget=widget, strip=True, **options)


class RowForm(forms.Form):
    """One row of a model's input, one field per schema column (named `c<index>` so any
    column name is a safe HTML name). The schema's own validation judges the values."""

    def __init__(
        self, *args, schema: InputSchema, language: str = "en", explain: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.field_names = {}
        for index, column in enumerate(schema.columns):
            name = f"c{index}"
            self.fields[name] = _field_for(column, language=language)
            # Filled in with the schema's example row, so a first prediction is one click.
            self.initial.setdefault(name, _example_value(column))
            self.fields[name].optional = not column.required
            self.field_names[column.name] = name
        if explain:  # only offered when the model version can explain its predictions
            self.fields["explain"] = forms.BooleanField(
                label=_("Explain this prediction"), required=False
            )

    def column_fields(self) -> list:
        return [self[name] for name in self.field_names.values()]

    def wants_explanation(self) -> bool:
        return bool(self.cleaned_data.get("explain"))

    def record(self) -> dict:
        """The row as the services take it: column name -> value, blanks as missing."""
        return {
            column: self.cleaned_data.get(name) or None for column, name in self.field_names.items()
        }

    def add_problems(self, problems: list[dict]) -> None:
        """Put the services' row problems (column -> message) on their fields."""
        for problem in problems:
            self.add_error(self.field_names.get(problem.get("column")), problem["message"])


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Excel or CSV file"))


class ConfirmForm(forms.Form):
    quote = forms.CharField(widget=forms.HiddenInput)
