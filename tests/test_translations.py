"""The translation catalogs are complete, compiled, and actually used by the pages.

Only polib is used to read catalogs, so these tests run without GNU gettext installed.
"""

# The Russian texts below are meant to be Cyrillic, not look-alike Latin letters.

import ast
import gettext as stdlib_gettext
import re
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation.template import templatize

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO_FILES = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/django.po"))

# %(name)s, %(limit)d, %(x).2f ... and the unnamed %s / %d forms.
PYTHON_FORMAT = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrs%])")
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
HTML_ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")

# Languages whose plural rule we know: n -> index of the plural form, on sample numbers.
EXPECTED_PLURALS = {
    "ru": {0: 2, 1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 14: 2, 21: 0, 22: 1, 25: 2, 101: 0, 111: 2},
}


def po_id(path: Path) -> str:
    return path.relative_to(LOCALE_DIR).parts[0]


def live_entries(po: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in po if not entry.obsolete]


def msgstrs(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def placeholders(text: str, *, python_format: bool) -> set[tuple[str, str]]:
    """The %-placeholders of `text`: all of them in a python-format string, else the named ones.

    Outside python-format strings a bare "%" is just a percent sign ("10% off").
    """
    return {
        (name, conversion)
        for name, conversion in PYTHON_FORMAT.findall(text)
        if conversion != "%" and (python_format or name)
    }


def markup(text: str) -> Counter:
    return Counter(HTML_TAG.findall(text) + HTML_ENTITY.findall(text))


def catalog_map(entries) -> dict:
    """(msgctxt, msgid, msgid_plural) -> translation(s), without the header entry."""
    return {
        (entry.msgctxt, entry.msgid, entry.msgid_plural): tuple(msgstrs(entry))
        for entry in entries
        if entry.msgid
    }


def test_there_is_a_catalog_for_every_language_but_the_default():
    languages = {code for code, _name in settings.LANGUAGES} - {settings.LANGUAGE_CODE}
    assert languages, "settings.LANGUAGES offers no language to translate into"
    assert {po_id(path) for path in PO_FILES} >= languages


@pytest.mark.parametrize("po_path", PO_FILES, ids=po_id)
def test_catalog_header(po_path):
    po = polib.pofile(str(po_path))
    language = po_id(po_path)
    assert not po.metadata_is_fuzzy, "the header is marked fuzzy"
    assert po.metadata.get("Language") == language
    assert "charset=UTF-8" in po.metadata.get("Content-Type", "")

    plural_forms = po.metadata.get("Plural-Forms", "")
    match = re.fullmatch(r"\s*nplurals=(\d+);\s*plural=(.+?);?\s*", plural_forms)
    assert match, f"malformed Plural-Forms: {plural_forms!r}"
    nplurals, plural = int(match[1]), stdlib_gettext.c2py(match[2])
    assert all(0 <= plural(n) < nplurals for n in range(1000))
    expected = EXPECTED_PLURALS.get(language)
    if expected:
        assert {n: plural(n) for n in expected} == expected
        assert nplurals == max(expected.values()) + 1


@pytest.mark.parametrize("po_path", PO_FILES, ids=po_id)
def test_every_entry_is_translated_and_not_fuzzy(po_path):
    po = polib.pofile(str(po_path))
    fuzzy = [entry.msgid for entry in live_entries(po) if "fuzzy" in entry.flags]
    untranslated = [
        entry.msgid for entry in live_entries(po) if not all(s.strip() for s in msgstrs(entry))
    ]
    assert not fuzzy, f"{len(fuzzy)} fuzzy entries: {fuzzy}"
    assert not untranslated, f"{len(untranslated)} untranslated entries: {untranslated}"


@pytest.mark.parametrize("po_path", PO_FILES, ids=po_id)
def test_translations_keep_placeholders_and_markup(po_path):
    po = polib.pofile(str(po_path))
    problems = []
    for entry in live_entries(po):
        sources = [entry.msgid] + ([entry.msgid_plural] if entry.msgid_plural else [])
        for translated in msgstrs(entry):
            if not translated:
                continue  # reported by the completeness test
            # A plural translation may drop the count (as in "one token"), never add a name.
            python_format = "python-format" in entry.flags
            wanted = placeholders(sources[-1], python_format=python_format)
            found = placeholders(translated, python_format=python_format)
            wrong = bool(found - wanted) if entry.msgid_plural else found != wanted
            if wrong:
                problems.append((entry.msgid, "placeholders", wanted, found))
            if markup(translated) != markup(sources[0]):
                problems.append((entry.msgid, "markup", markup(sources[0]), markup(translated)))
    assert not problems, "\n".join(map(repr, problems))


@pytest.mark.parametrize("po_path", PO_FILES, ids=po_id)
def test_compiled_catalog_matches_the_po_file(po_path):
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run manage.py compilemessages"
    po = polib.pofile(str(po_path))
    mo = polib.mofile(str(mo_path))
    # msgfmt leaves out what is untranslated or fuzzy; the .mo must hold all the rest.
    compiled = [entry for entry in live_entries(po) if entry.translated()]
    assert catalog_map(mo) == catalog_map(compiled), (
        f"{mo_path} is stale: run manage.py compilemessages"
    )
    for field in ("Language", "Plural-Forms", "Content-Type"):
        assert mo.metadata.get(field) == po.metadata.get(field), field


# -- Every translatable string of the sources is in the catalogs ---------------------------
# A pure-Python stand-in for `makemessages` (which needs xgettext): templates go through the
# same templatize() that makemessages uses; Python files are read with ast.

SOURCE_SUFFIXES = {".py", ".html", ".txt"}
SKIPPED_DIRS = {"locale", "var", "node_modules", "__pycache__", "static"}
# name -> (index of the context argument or None, index of the msgid argument)
GETTEXT_FUNCTIONS = {
    "_": (None, 0),
    "gettext": (None, 0),
    "gettext_lazy": (None, 0),
    "gettext_noop": (None, 0),
    "ngettext": (None, 0),
    "ngettext_lazy": (None, 0),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1),
    "npgettext_lazy": (0, 1),
}
TEMPLATIZED_CALL = re.compile(r"\b(gettext|ngettext|pgettext|npgettext|_)\(")
TEMPLATIZED_STRING = re.compile(r"""\s*u?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*,?""")


def source_files():
    base = Path(settings.BASE_DIR)
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base).parts
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in relative[:-1]):
            continue
        yield path


def python_msgids(source: str):
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in GETTEXT_FUNCTIONS:
            continue
        context_at, msgid_at = GETTEXT_FUNCTIONS[name]
        args = node.args
        if len(args) <= msgid_at or not all(
            isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            for arg in args[: msgid_at + 1]
        ):
            continue
        yield (args[context_at].value if context_at is not None else None), args[msgid_at].value


def template_msgids(source: str, origin: str):
    text = templatize(source, origin=origin)
    for match in TEMPLATIZED_CALL.finditer(text):
        literals, position = [], match.end()
        while (literal := TEMPLATIZED_STRING.match(text, position)) and len(literals) < 2:
            literals.append(ast.literal_eval(literal[1]))
            position = literal.end()
        if not literals:
            continue  # a call on a variable, as xgettext would skip it
        if match[1] in ("pgettext", "npgettext"):
            yield literals[0], literals[1]
        else:
            yield None, literals[0]


def test_every_source_string_is_in_every_catalog():
    found: dict[tuple, set[str]] = {}
    for path in source_files():
        source = path.read_text(encoding="utf-8")
        relative = str(path.relative_to(settings.BASE_DIR))
        if path.suffix == ".py":
            msgids = python_msgids(source)
        else:
            msgids = template_msgids(source, relative)
        for key in msgids:
            if key[1]:
                found.setdefault(key, set()).add(relative)
    assert found, "no translatable strings found: the extractor is broken"
    for po_path in PO_FILES:
        po = polib.pofile(str(po_path))
        known = {(entry.msgctxt, entry.msgid) for entry in live_entries(po)}
        missing = {key: sorted(where) for key, where in found.items() if key not in known}
        assert not missing, (
            f"{po_path} lacks {len(missing)} strings; run `make messages` and translate them: "
            f"{missing}"
        )


# -- The pages really come out in Russian ----------------------------------------------------


@pytest.fixture
def restore_language():
    # LocaleMiddleware activates the request's language in this thread and leaves it there.
    language = translation.get_language()
    yield
    translation.activate(language)


@pytest.fixture
def russian_client(client, restore_language):
    """A test client that chose Russian with the switcher in the page header."""
    home = client.get("/")
    assert home.status_code == 200
    page = home.content.decode()
    switcher_action = f'action="{reverse("set_language")}"'
    assert switcher_action in page, "the language switcher is not on the home page"
    assert re.search(r'<button[^>]*name="language"[^>]*value="ru"', page), (
        "the switcher offers no Russian button"
    )
    response = client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    assert response.status_code == 302
    assert response.url == "/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    return client


@pytest.mark.django_db
def test_home_page_is_english_by_default(client, restore_language):
    page = client.get("/").content.decode()
    assert '<html lang="en"' in page
    assert "Machine-learning predictions, paid per row" in page


@pytest.mark.django_db
def test_home_page_in_russian_after_switching_language(russian_client):
    response = russian_client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ru"' in page
    assert "Прогнозы машинного обучения с оплатой за строку" in page
    assert "Создать бесплатный аккаунт" in page
    assert "Machine-learning predictions, paid per row" not in page
    assert "Create a free account" not in page


@pytest.mark.django_db
def test_login_page_in_russian_after_switching_language(russian_client):
    response = russian_client.get("/accounts/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ru"' in page
    assert "Забыли пароль?" in page
    assert "Эл. почта" in page  # the form's field label, from Python code
    assert "Forgot your password?" not in page
    assert "Create an account" not in page
