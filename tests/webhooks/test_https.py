"""Deliveries over TLS: the connection goes to the address checked, and the certificate is
still verified against the URL's host name."""

import datetime
import functools
import ssl

import pytest

from webhooks import services, tasks
from webhooks.models import WebhookAttempt

from .conftest import Receiver, serve_receiver

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

pytestmark = pytest.mark.django_db

HOST = "hooks.example.com"


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 with a certificate for hooks.example.com, issued by a
    test CA that the delivery's TLS context trusts (and nothing else)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MFDP test CA")])
    ca_cert = _certificate("MFDP test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(HOST, key, ca_name, ca_key, ca=False)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    monkeypatch.setattr(
        ssl,
        "create_default_context",
        functools.partial(ssl.create_default_context, cafile=str(ca_file)),
    )
    state = Receiver()
    server = serve_receiver(state, ssl_context=server_context)
    state.url = f"https://{HOST}:{server.server_address[1]}/hooks/mfdp"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_receiver_gets_the_event_under_its_host_name(
    tls_receiver, make_job, fake_dns, allow_private, verify
):
    fake_dns({HOST: ["127.0.0.1"]})
    event = services.job_finished(make_job(webhook_url=tls_receiver.url))

    assert tasks.deliver(str(event.pk)) == 200

    (received,) = tls_receiver.requests
    port = tls_receiver.url.split(":")[2].split("/")[0]
    assert received.headers["Host"] == f"{HOST}:{port}"
    assert verify(event.owner.webhook_secret, received.headers, received.body)


def test_a_certificate_for_another_name_is_refused(tls_receiver, make_job, fake_dns, allow_private):
    fake_dns({"other.example.com": ["127.0.0.1"]})
    url = tls_receiver.url.replace(HOST, "other.example.com")
    event = services.job_finished(make_job(webhook_url=url))

    assert tasks.deliver(str(event.pk)) is None

    attempt = WebhookAttempt.objects.get()
    assert "SSLCertVerificationError" in attempt.error
    assert tls_receiver.requests == []
