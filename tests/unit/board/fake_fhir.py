"""A FHIR server stand-in on 127.0.0.1 for the tests (no FHIR server is installable here).

It records every request and answers as a FHIR server does: a transaction POST with a
transaction-response Bundle (201 Created the first time a conditional request is seen, 200 OK
after), or 400/401 with an OperationOutcome (`mode`); a GET from the pages set by the test, else
404 with an OperationOutcome.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeFhir:
    """A FHIR server stand-in: records requests; answers per `mode`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mode = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                outer.requests.append({"method": "GET", "path": self.path,
                                       "headers": dict(self.headers)})
                code, answer = outer.read(self.path)
                raw = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"method": "POST", "path": self.path,
                                       "headers": dict(self.headers), "body": json.loads(body)})
                code, answer = outer.answer(outer.requests[-1]["body"])
                raw = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.known: set[str] = set()
        self.pages: dict[str, tuple[int, dict]] = {}  # GET path (after /fhir) -> answer

    def read(self, path: str) -> tuple[int, dict]:
        """Answer a GET from `pages`; 404 with an OperationOutcome otherwise."""
        found = self.pages.get(path.removeprefix("/fhir"))
        if found is None:
            return 404, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": f"{path}"}]}
        return found

    def answer(self, bundle: dict) -> tuple[int, dict]:
        if self.mode == "unauthorised":
            return 401, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "login", "diagnostics": "token expired"}]}
        if self.mode == "reject":
            return 400, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "processing",
                 "diagnostics": "Resource Observation/ki67-1 not found, specified in path: "
                                "RiskAssessment.basis",
                 "expression": ["Bundle.entry[1].resource.basis[0]"]}]}
        entries = []
        for i, e in enumerate(bundle["entry"]):  # conditional create/update, by request url
            key = e["request"]["url"] + e["request"].get("ifNoneExist", "")
            kind = e["resource"]["resourceType"]
            status = "200 OK" if key in self.known else "201 Created"
            self.known.add(key)
            entries.append({"response": {"status": status,
                                         "location": f"{kind}/{i + 100}/_history/1"}})
        return 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
