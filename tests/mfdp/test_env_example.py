import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _settings_variables() -> set[str]:
    source = (ROOT / "mfdp" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))


def _documented_variables() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {}
    for number, line in enumerate(lines):
        match = re.match(r"([A-Z][A-Z0-9_]+)=", line)
        if match:
            comments = [li for li in lines[max(0, number - 3) : number] if li.startswith("#")]
            documented[match.group(1)] = " ".join(comments)
    return documented


def test_every_setting_variable_is_in_env_example_with_a_comment():
    documented = _documented_variables()
    assert _settings_variables(), "no variables found: the pattern no longer matches settings.py"
    missing = _settings_variables() - documented.keys()
    assert not missing, f".env.example lacks {sorted(missing)}"
    uncommented = [name for name in _settings_variables() if not documented[name]]
    assert not uncommented, f"no comment above {uncommented} in .env.example"


def _compose_variables() -> set[str]:
    source = (ROOT / "docker-compose.yml").read_text()
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", source))


def test_env_example_names_no_variable_the_settings_ignore():
    # docker-compose.yml reads a few of its own (the containers' accounts, ports).
    stale = _documented_variables().keys() - _settings_variables() - _compose_variables()
    assert not stale, f".env.example lists variables nothing reads: {sorted(stale)}"
