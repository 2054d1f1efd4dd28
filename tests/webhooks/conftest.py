"""A real HTTP receiver on 127.0.0.1 for webhook tests, and finished jobs to send events of."""

import dataclasses
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from predictions.models import JobKind, JobStatus, MLModel, ModelVersion, PredictionJob
from tests.factories import UserFactory

DOCS = Path(settings.BASE_DIR) / "docs" / "webhooks.md"


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Answer:
    status: int = 200
    body: bytes = b"thanks"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """Records every POST; answers with the queued answers in order, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[Answer] = []
        self.url = ""
        self._lock = threading.Lock()

    def answer_with(self, *answers: Answer | int) -> None:
        self.answers.extend(a if isinstance(a, Answer) else Answer(status=a) for a in answers)

    def take(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self.answers.pop(0) if self.answers else Answer()

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


def serve_receiver(state: Receiver, ssl_context=None):
    """An HTTP(S) server on 127.0.0.1 in a thread of the test process, answering for `state`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            received = Received(
                path=self.path, headers=dict(self.headers.items()), body=self.rfile.read(length)
            )
            answer = state.take(received)
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receiver():
    """A plain HTTP receiver; `receiver.url` is http://127.0.0.1:<port>/hooks/mfdp."""
    state = Receiver()
    server = serve_receiver(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mfdp"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_private(settings):
    """Deliveries may go to the local receiver (plain http on 127.0.0.1)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def fake_dns(monkeypatch):
    """`fake_dns({"hooks.example.com": ["93.184.216.34"]})`: getaddrinfo answers these
    names with these addresses (and refuses other names), so no test depends on real DNS."""
    real = socket.getaddrinfo

    def install(table: dict[str, list[str]]):
        def getaddrinfo(host, port, *args, **kwargs):
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, host)
            except (OSError, TypeError):
                pass
            else:
                return real(host, port, *args, **kwargs)  # an address literal: no DNS
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, port),
                )
                for address in table[host]
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


@pytest.fixture(scope="session")
def verify():
    """The signature check printed in docs/webhooks.md, run as the docs show it."""
    text = DOCS.read_text()
    match = re.search(r"<!-- tests/webhooks[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its verification snippet"
    code = match[1]
    assert len(code.strip().splitlines()) <= 10, "the snippet promises ten lines at most"
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify"]


@pytest.fixture
def version(db):
    model = MLModel.objects.create(
        slug="tiny-price", name_en="Tiny price", name_ru="Цена", task="regression"
    )
    return ModelVersion.objects.create(
        model=model,
        number=3,
        artifact="models/tiny-price/v3.skops",
        sha256="0" * 64,
        schema={"columns": []},
        target="Price",
        price_per_row=2,
    )


@pytest.fixture
def make_job(version):
    """A job of a fresh customer; finished (succeeded) unless told otherwise."""

    def make(*, webhook_url: str = "", owner=None, **fields) -> PredictionJob:
        now = timezone.now()
        values = {
            "owner": owner or UserFactory(),
            "version": version,
            "kind": JobKind.SINGLE,
            "status": JobStatus.SUCCEEDED,
            "input": {"Mileage": 12000, "Make": "Saab"},
            "rows_total": 1,
            "rows_done": 1,
            "output": {"prediction": 27600.5},
            "price_per_row": 2,
            "cost_charged": 2,
            "webhook_url": webhook_url,
            "started_at": now,
            "finished_at": now,
            **fields,
        }
        return PredictionJob.objects.create(**values)

    return make
