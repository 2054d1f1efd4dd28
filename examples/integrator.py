"""An integrator's whole journey with MFDP's API, using nothing but Python's standard library.

    MFDP_URL=http://127.0.0.1:8000 MFDP_TOKEN=mfdp_... MFDP_WEBHOOK_SECRET=whsec_... \
        python3 examples/integrator.py [--model car-price-basic] [--rows 500]

The token and the webhook signing secret come from the API tokens page. The script checks
its token, asks for a quote, predicts one row (waiting for the answer), uploads a CSV file
with a webhook pointing at a small HTTP server it runs itself, waits for the signed event,
checks the signature, downloads the result and prints the ledger. The webhook must reach
this machine: MFDP accepts a local address only in DEBUG (as `make demo` runs); elsewhere
pass --webhook-host with a public https address that forwards here.
"""

import argparse
import csv
import hashlib
import hmac
import http.server
import io
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

NO_PROXY = urllib.request.ProxyHandler({})


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a signed link must be fetched without our token


class Api:
    def __init__(self, base: str, token: str) -> None:
        if not base.startswith(("http://", "https://")):
            sys.exit(f"MFDP_URL must be an http(s) URL, not {base!r}")
        self.base = base.rstrip("/")
        self.token = token
        self.opener = urllib.request.build_opener(NO_PROXY, NoRedirect)

    def call(self, method: str, path: str, *, body=None, headers=None, content_type=None):
        request = urllib.request.Request(self.base + path, method=method, data=body)  # noqa: S310 (checked http(s))
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=90) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, payload=None, *, expect=(200,), headers=None):
        body = None if payload is None else json.dumps(payload).encode()
        content_type = None if payload is None else "application/json"
        status, _headers, raw = self.call(
            method, path, body=body, headers=headers, content_type=content_type
        )
        data = json.loads(raw) if raw else None
        if status not in expect:
            sys.exit(f"{method} {path}: {status} {data}")
        return status, data


def multipart(fields: dict[str, str], file_name: str, file_body: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: text/csv\r\n\r\n'
    )
    body = "".join(parts).encode() + file_body + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """docs/webhooks.md's check, as a receiver would write it."""
    timestamp = headers["MFDP-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("MFDP-Signature", ""))


def start_receiver(host: str) -> tuple[str, queue.Queue]:
    events: queue.Queue = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            events.put((self.headers, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{host}:{server.server_address[1]}/mfdp-events", events


def sample_file(schema: list[dict], rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([column["name"] for column in schema])
    for _ in range(rows):
        writer.writerow([column["example"] for column in schema])
    writer.writerow(["not a value" for _column in schema])  # one bad row: refunded
    return out.getvalue().encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="car-price-basic")
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--webhook-host", default="127.0.0.1")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    api = Api(os.environ.get("MFDP_URL", "http://127.0.0.1:8000"), os.environ["MFDP_TOKEN"])
    secret = os.environ["MFDP_WEBHOOK_SECRET"]

    _, me = api.json("GET", "/api/v1/me/")
    print(f"signed in as {me['email']}")
    _, model = api.json("GET", f"/api/v1/models/{args.model}/")
    row = {column["name"]: column["example"] for column in model["schema"]}

    _, quote = api.json("POST", "/api/v1/quotes/", {"model": args.model, "input": row})
    print(f"quote: {quote['cost']} credits for one row, balance after {quote['balance_after']}")

    _, one = api.json(
        "POST",
        "/api/v1/predictions/",
        {"model": args.model, "input": row},
        expect=(201,),
        headers={"Prefer": "wait=30", "Idempotency-Key": str(uuid.uuid4())},
    )
    print(f"one row: {one['output']} (cost {one['cost']})")

    webhook, events = start_receiver(args.webhook_host)
    body, content_type = multipart(
        {"model": args.model, "webhook": webhook},
        "cars.csv",
        sample_file(model["schema"], args.rows),
    )
    status, _headers, raw = api.call(
        "POST",
        "/api/v1/predictions/",
        body=body,
        content_type=content_type,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    if status not in (201, 202):
        sys.exit(f"upload: {status} {raw[:500]!r}")
    job = json.loads(raw)
    print(f"file: job {job['id']} {job['status']}, charged {job['cost']}")

    try:
        headers, event_body = events.get(timeout=args.timeout)
    except queue.Empty:
        sys.exit(f"no webhook event within {args.timeout:.0f} s")
    if not verify(secret, headers, event_body):
        sys.exit("the webhook event's signature does not verify")
    event = json.loads(event_body)
    finished = event["data"]["job"]
    progress = finished["progress"]
    print(
        f"webhook {event['type']} (signature ok): {progress['rows_done']}/"
        f"{progress['rows_total']} rows predicted, {progress['rows_failed']} failed, "
        f"cost {finished['cost']}, refund {finished['refund']}"
    )

    status, headers, raw = api.call("GET", f"/api/v1/predictions/{job['id']}/result/")
    if status == 302:  # a short-lived signed link (S3): fetched without the token
        with urllib.request.build_opener(NO_PROXY).open(headers["Location"], timeout=60) as link:
            raw = link.read()
    elif status != 200:
        sys.exit(f"result: {status} {raw[:500]!r}")
    print(f"result: {len(raw)} bytes of xlsx ({raw[:2]!r})")

    _, ledger = api.json("GET", "/api/v1/ledger/?page_size=5")
    for entry in ledger["results"]:
        print(f"ledger: {entry['kind']:<7} {entry['amount']:+6d} -> {entry['balance_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
