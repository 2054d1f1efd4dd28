"""Which webhook URLs are accepted (webhooks.services.clean_webhook_url)."""

import pytest

from mfdp.errors import InvalidInput
from webhooks.services import clean_webhook_url

PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def strict(settings):
    # The production rules: no DEBUG, private addresses not allowed.
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE = False


def _refused(url: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        clean_webhook_url(url)
    assert caught.value.code == "invalid_webhook_url"
    return caught.value


def test_https_url_of_a_public_host_is_accepted_and_normalised(fake_dns):
    fake_dns({"hooks.example.com": [PUBLIC, "2606:2800:220:1::1"]})
    cleaned = clean_webhook_url("  HTTPS://Hooks.Example.COM:443/mfdp/événement?x=1#top ")
    assert cleaned == "https://hooks.example.com/mfdp/%C3%A9v%C3%A9nement?x=1"


def test_a_non_default_port_is_kept(fake_dns):
    fake_dns({"hooks.example.com": [PUBLIC]})
    assert clean_webhook_url("https://hooks.example.com:8443") == "https://hooks.example.com:8443/"


def test_an_international_host_name_is_stored_in_ascii(fake_dns):
    fake_dns({"xn--bcher-kva.example": [PUBLIC]})
    assert clean_webhook_url("https://bücher.example/h") == "https://xn--bcher-kva.example/h"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://224.0.1.1/hook",
        "https://[fc00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a00:1]/hook",
        "https://192.0.2.10/hook",
    ],
)
def test_loopback_private_and_reserved_addresses_are_refused(url):
    error = _refused(url)
    assert "public address" in error.message


def test_a_name_resolving_to_loopback_is_refused(fake_dns):
    fake_dns({"localhost.example.com": ["127.0.0.1"]})
    assert "public address" in _refused("https://localhost.example.com/hook").message


def test_a_name_with_one_private_address_among_public_ones_is_refused(fake_dns):
    fake_dns({"mixed.example.com": [PUBLIC, "10.0.0.7"]})
    _refused("https://mixed.example.com/hook")


def test_a_name_that_does_not_resolve_is_refused(fake_dns):
    fake_dns({})
    assert "does not resolve" in _refused("https://nowhere.example.com/hook").message


def test_plain_http_is_refused_outside_debug(fake_dns):
    fake_dns({"hooks.example.com": [PUBLIC]})
    assert "https://" in _refused("http://hooks.example.com/hook").message


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://hooks.example.com/hook",
        "javascript:alert(1)",
        "hooks.example.com/hook",
        "https://",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com:0/",
        "https://hooks example.com/",
        "https://hooks.example.com/a\nb",
        "https://bad_host!.example.com/",
    ],
)
def test_what_is_not_an_http_url_is_refused(url):
    _refused(url)


def test_credentials_in_the_url_are_refused(fake_dns):
    fake_dns({"hooks.example.com": [PUBLIC]})
    error = _refused("https://user:secret@hooks.example.com/hook")
    assert "password" in error.message
    _refused("https://token@hooks.example.com/hook")


def test_a_url_longer_than_500_characters_is_refused(fake_dns):
    fake_dns({"hooks.example.com": [PUBLIC]})
    base = "https://hooks.example.com/"
    assert clean_webhook_url(base + "a" * (500 - len(base))) == base + "a" * (500 - len(base))
    assert "500" in _refused(base + "a" * (501 - len(base))).message


def test_debug_accepts_http_and_local_addresses(settings):
    settings.DEBUG = True
    assert clean_webhook_url("http://127.0.0.1:8000/hook") == "http://127.0.0.1:8000/hook"
    assert clean_webhook_url("http://localhost:8000/hook") == "http://localhost:8000/hook"


def test_webhook_allow_private_accepts_http_and_local_addresses(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert clean_webhook_url("http://10.0.0.7/hook") == "http://10.0.0.7/hook"
    assert clean_webhook_url("https://[::1]:8443/hook") == "https://[::1]:8443/hook"
    _refused("ftp://10.0.0.7/hook")
    _refused("http://user:pw@10.0.0.7/hook")
