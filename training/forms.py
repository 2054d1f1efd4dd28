"""Page forms of own models. They collect input only: the rules about tables, schemas and
hyperparameters live in the services (and the ML package behind them), so the pages and the
API refuse the same things with the same messages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from predictions.ml.algorithms import BOOLEAN, CHOICE, INTEGER, Algorithm
from predictions.ml.profiling import DatasetSchema
from predictions.ml.schema import ColumnType

COLUMN_TYPES = [
    (ColumnType.NUMBER.value, _("number")),
    (ColumnType.INTEGER.value, _("whole number")),
    (ColumnType.CATEGORY.value, _("one of a list")),
    (ColumnType.TEXT.value, _("text")),
    (ColumnType.BOOLEAN.value, _("yes / no")),
]
TASKS = [("regression", _("regression")), ("classification", _("classification"))]
NOTES = {
    "empty": _("Empty in every row: left out."),
    "identifier": _(
        "One distinct value per row, like an identifier: a model could only memorise it; "
        "consider leaving it out."
    ),
}


class DatasetUploadForm(forms.Form):
    file = forms.FileField(label=_("Excel or CSV file"))
    target = forms.CharField(
        label=_("Target column"),
        max_length=255,
        help_text=_("The column the model will learn to predict, named as in the header."),
    )
    name = forms.CharField(label=_("Name"), max_length=120, required=False)


class SchemaForm(forms.Form):
    """The suggested schema, editable: per column a type and "leave out", the target's task
    and the dataset's name. Fields are named by position (`type_3`) so any header is safe."""

    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    task = forms.ChoiceField(label=_("Task"), choices=TASKS)

    def __init__(self, *args, schema: DatasetSchema, dataset_name: str = "", **kwargs) -> None:
        kwargs.setdefault("initial", {"name": dataset_name, "task": schema.task})
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.columns = [(column.name, column.type.value) for column in schema.columns]
        self.columns += [(name, "") for name in schema.ignored]
        self.rows = []
        for index, (name, column_type) in enumerate(self.columns):
            ignored = name in schema.ignored
            choices = (
                COLUMN_TYPES if column_type else [("", _("as the data suggest")), *COLUMN_TYPES]
            )
            self.fields[f"type_{index}"] = forms.ChoiceField(
                label=name, choices=choices, initial=column_type, required=False
            )
            self.fields[f"ignore_{index}"] = forms.BooleanField(
                label=_("Leave out"), initial=ignored, required=False
            )
            note = schema.notes.get(name)
            self.rows.append(
                {
                    "name": name,
                    "type": self[f"type_{index}"],
                    "ignore": self[f"ignore_{index}"],
                    "note": NOTES.get(note, note) if note else "",
                }
            )

    def revision(self) -> dict:
        """The services' arguments: types that changed, every column left out, task, name."""
        types, ignored = {}, []
        for index, (name, current) in enumerate(self.columns):
            if self.cleaned_data.get(f"ignore_{index}"):
                ignored.append(name)
                continue
            chosen = self.cleaned_data.get(f"type_{index}") or ""
            if chosen and chosen != current:
                types[name] = chosen
        return {
            "types": types,
            "ignored": ignored,
            "task": self.cleaned_data["task"],
            "name": self.cleaned_data.get("name") or None,
        }


def _hyperparameter_field(hyperparameter, language: str) -> forms.Field:
    """A field from the algorithm's declaration, filled with its default; left empty, the
    default applies (as in the API). Bounds go to the browser as hints only: the algorithm's
    own validation judges the values, so the page and the API agree."""
    options = {
        "required": False,
        "label": hyperparameter.label.get(language)
        or hyperparameter.label.get("en")
        or hyperparameter.name,
        "help_text": hyperparameter.help.get(language) or hyperparameter.help.get("en", ""),
        "initial": hyperparameter.default,
    }
    if hyperparameter.kind == BOOLEAN:
        return forms.BooleanField(**options)
    if hyperparameter.kind == CHOICE:
        return forms.ChoiceField(
            choices=[(choice, choice) for choice in hyperparameter.choices], **options
        )
    attrs = {
        "step": "1" if hyperparameter.kind == INTEGER else "any",
        "placeholder": f"{hyperparameter.default:g}",
    }
    if hyperparameter.minimum is not None:
        attrs["min"] = f"{hyperparameter.minimum:g}"
    if hyperparameter.maximum is not None:
        attrs["max"] = f"{hyperparameter.maximum:g}"
    if hyperparameter.kind == INTEGER:
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **options)
    return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **options)


def _problem_message(problem: dict, hyperparameter) -> str:
    code = problem.get("code")
    if hyperparameter is not None and code == "minimum":
        return _("The smallest value allowed is %(minimum)g.") % {"minimum": hyperparameter.minimum}
    if hyperparameter is not None and code == "maximum":
        return _("The largest value allowed is %(maximum)g.") % {"maximum": hyperparameter.maximum}
    if code == "choice":
        return str(_("Choose one of the listed values."))
    return problem["message"]


class TrainForm(forms.Form):
    """Which algorithm (among those that suit the dataset), its hyperparameters (fields
    `p_<name>` generated from its declaration), the model's name, and optionally one of the
    customer's models to retrain."""

    algorithm = forms.ChoiceField(label=_("Algorithm"))
    name = forms.CharField(label=_("Model name"), max_length=120, required=False)
    model = forms.ChoiceField(label=_("Retrain one of my models"), required=False)

    def __init__(
        self,
        *args,
        algorithms: list[Algorithm],
        models: list,
        language: str = "en",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.algorithms = {algorithm.name: algorithm for algorithm in algorithms}
        self.fields["algorithm"].choices = [
            (algorithm.name, algorithm.label.get(language) or algorithm.label["en"])
            for algorithm in algorithms
        ]
        self.fields["model"].choices = [
            ("", _("No: a new model")),
            *((model.slug, model.name) for model in models),
        ]
        chosen = (self.data.get("algorithm") if self.is_bound else None) or self.initial.get(
            "algorithm"
        )
        self.chosen_algorithm = self.algorithms.get(chosen) or (
            algorithms[0] if algorithms else None
        )
        self.chosen_description = ""
        if self.chosen_algorithm is not None:
            description = self.chosen_algorithm.description
            self.chosen_description = description.get(language) or description.get("en", "")
            if not self.is_bound:
                self.initial["algorithm"] = self.chosen_algorithm.name
        self.parameter_names = []
        for hyperparameter in (
            self.chosen_algorithm.hyperparameters if self.chosen_algorithm else ()
        ):
            field_name = f"p_{hyperparameter.name}"
            self.fields[field_name] = _hyperparameter_field(hyperparameter, language)
            self.parameter_names.append(field_name)

    def parameter_fields(self) -> list:
        return [self[name] for name in self.parameter_names]

    def params(self) -> dict:
        return {
            name.removeprefix("p_"): self.cleaned_data[name]
            for name in self.parameter_names
            if self.cleaned_data.get(name) not in (None, "")
        }

    def add_problems(self, problems: list[dict]) -> None:
        """Put the algorithm's hyperparameter problems on their fields, in the page's
        language where the problem's code is known (the package's English otherwise)."""
        algorithm = self.chosen_algorithm
        declared = {h.name: h for h in algorithm.hyperparameters} if algorithm else {}
        for problem in problems:
            field_name = f"p_{problem.get('name')}"
            hyperparameter = declared.get(problem.get("name"))
            message = _problem_message(problem, hyperparameter)
            self.add_error(field_name if field_name in self.fields else None, message)


class SignedForm(forms.Form):
    """A quoted request travelling signed in a hidden field until the customer confirms."""

    quote = forms.CharField(widget=forms.HiddenInput)
