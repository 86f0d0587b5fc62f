#!/usr/bin/env python3
"""A minimal local GitHub for benchmarks (scripts/bench-action.sh): list, create and update
issue comments and create check runs, in memory. The faithful, schema-validating fake used
by the tests lives in tests/it/fake_github.rs; this one only has to answer quickly.

Usage: fake_github.py PORT_FILE   (binds 127.0.0.1:0, writes the port to PORT_FILE)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMENTS = []
USER = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


def comment(c):
    return {"id": c["id"], "body": c["body"], "user": USER,
            "html_url": f"https://github.com/o/r/pull/1#issuecomment-{c['id']}"}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        if self.path.split("?")[0] == "/user":
            # An installation token (GITHUB_TOKEN) may not ask who it is, as on github.com.
            return self.send(403, {"message": "Resource not accessible by integration"})
        self.send(200, [comment(c) for c in COMMENTS])

    def do_POST(self):
        b = self.body()
        if self.path.endswith("/check-runs"):
            return self.send(201, {"id": 1, "html_url": "https://github.com/o/r/runs/1"})
        c = {"id": len(COMMENTS) + 1, "body": b.get("body", "")}
        COMMENTS.append(c)
        self.send(201, comment(c))

    def do_PATCH(self):
        b = self.body()
        cid = int(self.path.rstrip("/").split("/")[-1])
        for c in COMMENTS:
            if c["id"] == cid:
                c["body"] = b.get("body", "")
                return self.send(200, comment(c))
        self.send(404, {"message": "Not Found"})

    def do_DELETE(self):
        self.send(204, None)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
