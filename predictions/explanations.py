"""An explained prediction as the page shows it: one plain sentence in the page's language and
the bars of the largest contributions. The figures come from ml.explaining
(`Explanation.to_dict`): `base_value + sum(contributions) == output_value`."""

from typing import Any

from django.utils.translation import gettext as _

from predictions import charts

from .ml.explaining import OTHER_FEATURES

SENTENCE_FEATURES = 2


def _feature_label(entry: dict[str, Any]) -> str:
    if entry.get("feature") == OTHER_FEATURES and entry.get("token") is None:
        return _("other inputs")
    if entry.get("token"):
        return _("“%(token)s” in %(feature)s") % {
            "token": entry["token"],
            "feature": entry["feature"],
        }
    return str(entry["feature"])


def _reasons(explanation: dict[str, Any], direction: float) -> list[str]:
    """The largest contributions that pushed the output the way it went; the largest of any
    sign when none did."""
    entries = [
        entry
        for entry in explanation.get("contributions") or []
        if entry.get("feature") != OTHER_FEATURES and entry.get("contribution")
    ]
    entries.sort(key=lambda entry: abs(entry["contribution"]), reverse=True)
    pushing = [entry for entry in entries if entry["contribution"] * direction > 0] or entries
    chosen, seen = [], set()
    for entry in pushing:
        # One reason per column, but each word of a text counts on its own.
        key = (entry["feature"], entry.get("token"))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(_feature_label(entry))
        if len(chosen) == SENTENCE_FEATURES:
            break
    return chosen


def _listed(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return _("%(first)s and %(second)s") % {"first": names[0], "second": names[1]}


def explanation_sentence(explanation: dict[str, Any]) -> str:
    """One sentence saying which way the prediction departs from the average and which
    inputs moved it most, e.g. "Higher than average mainly because of mileage and year."."""
    direction = float(explanation.get("output_value", 0.0)) - float(
        explanation.get("base_value", 0.0)
    )
    reasons = _reasons(explanation, direction)
    explained_class = explanation.get("explained_class")
    if not reasons or direction == 0:
        if explained_class is not None:
            return _("As likely as average to be %(label)s.") % {"label": explained_class}
        return _("About average.")
    values = {"features": _listed(reasons), "label": explained_class}
    if explained_class is not None:
        if direction > 0:
            return (
                _("More likely than average to be %(label)s mainly because of %(features)s.")
                % values
            )
        return (
            _("Less likely than average to be %(label)s mainly because of %(features)s.") % values
        )
    if direction > 0:
        return _("Higher than average mainly because of %(features)s.") % values
    return _("Lower than average mainly because of %(features)s.") % values


def explanation_chart(explanation: dict[str, Any]) -> dict[str, Any]:
    """Bars of the contributions, largest first, diverging from zero (the base value)."""
    return charts.bar_chart(
        [
            (_feature_label(entry), entry.get("contribution"))
            for entry in explanation.get("contributions") or []
        ]
    )
