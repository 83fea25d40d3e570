#!/usr/bin/env python3
"""A test webhook receiver (the streamer's site, as far as Deckcast can tell).

    WEBHOOK_SECRET=... webhook-receiver.py PORT OUT_FILE [--fail-first N] [--hang-first N] [--dump FILE]
                                           [--reject-title TITLE]

Listens on 127.0.0.1:PORT. The first N requests get HTTP 500 and the next M hang for 15 s (the
client times out); after that it verifies each delivery with the verifier shipped in
docs/webhook_verify.py and appends {"id", "type", "valid"} as a JSON line to OUT_FILE, answering
200 when valid and 401 when not. --dump keeps the first valid request's headers and body.
--reject-title answers 400 (refused for good, not recorded) to a nowplaying event with that title.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs"))
from webhook_verify import verify  # noqa: E402

# The secret comes from the environment: argv is visible to every user of the machine.
port, secret, out = int(sys.argv[1]), os.environ["WEBHOOK_SECRET"], sys.argv[2]
fail_first = int(sys.argv[sys.argv.index("--fail-first") + 1]) if "--fail-first" in sys.argv else 0
hang_first = int(sys.argv[sys.argv.index("--hang-first") + 1]) if "--hang-first" in sys.argv else 0
dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
reject = sys.argv[sys.argv.index("--reject-title") + 1] if "--reject-title" in sys.argv else None
lock = threading.Lock()
seen = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            seen["n"] += 1
            n = seen["n"]
        if n <= fail_first:
            self.send_response(500)
            self.end_headers()
            return
        if n <= fail_first + hang_first:
            time.sleep(15)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = verify(secret, headers, body)
        event = json.loads(body or b"{}")
        if reject is not None and event.get("type") == "nowplaying" and \
                event.get("data", {}).get("title") == reject:
            self.send_response(400)
            self.end_headers()
            return
        with lock, open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"id": event.get("id"), "type": event.get("type"),
                                "header_id": headers.get("x-deckcast-event-id"), "valid": ok,
                                "event": event}) + "\n")
        if ok and dump and not os.path.exists(dump):
            with open(dump, "w", encoding="utf-8") as f:
                json.dump({"headers": headers, "body": body.decode()}, f)
        self.send_response(200 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
