#!/usr/bin/env python3
"""A fake OpenAI-compatible server for tests/unit/services/ai-worker/openai.c.

Binds 127.0.0.1 on a free port (or argv[1]), prints the port on stdout, serves
POST /v1/chat/completions and /v1/embeddings. The request's "model" selects
the behaviour:
  ok          a valid answer (the key must be "Bearer sk-test", else 401)
  ratelimit   429 with Retry-After: 1 on the first request, then like ok
  flaky       503 without Retry-After on the first request, then like ok
  err500      always 500
  slow        answers after 3 s
  malformed   200 with a body that is not JSON
  badcontent  200, a chat answer whose content is not JSON
  badcategory 200, category "poem"
  huge        200 with a 2 MB body
Chat answers report usage {prompt_tokens: 7, completion_tokens: 3, total_tokens: 10}, embeddings
{prompt_tokens: 3, total_tokens: 3}. GET /calls answers the number of requests answered 200 by kind:
{"summary": whole-document summaries, "summary_map": summaries of one part, "summary_reduce": summaries of
summaries, "keywords", "category", "embeddings"}.
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = {}
calls = {}
lock = threading.Lock()


def tally(kind):
    with lock:
        calls[kind] = calls.get(kind, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/calls":
            with lock:
                return self.send(200, json.dumps(calls))
        self.send(404, '{"error":{"message":"not found"}}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        model = req.get("model", "")
        with lock:
            seen[(model, self.path)] = seen.get((model, self.path), 0) + 1
            count = seen[(model, self.path)]
        if model == "ratelimit" and count == 1:
            return self.send(429, '{"error":{"message":"slow down"}}', [("Retry-After", "1")])
        if model == "flaky" and count == 1:
            return self.send(503, '{"error":{"message":"busy"}}')
        if model == "err500":
            return self.send(500, '{"error":{"message":"boom"}}')
        if model == "slow":
            time.sleep(3)
        if model == "malformed":
            return self.send(200, "<html>not json</html>")
        if model == "huge":
            return self.send(200, '{"x":"' + "a" * (2 << 20) + '"}')
        if model == "ok" and self.headers.get("Authorization") != "Bearer sk-test":
            return self.send(401, '{"error":{"message":"bad key"}}')
        if self.path == "/v1/embeddings":
            tally("embeddings")
            return self.send(200, json.dumps({"data": [{"embedding": [0.6, 0.8, 0.0]}],
                                              "usage": {"prompt_tokens": 3, "total_tokens": 3}}))
        system = req["messages"][0]["content"]
        if model == "badcontent":
            content = "Sure! Here is your summary: hello"
        elif model == "badcategory":
            content = '{"category": "poem"}'
        elif '"summary"' in system:
            if "one part of a longer document" in system:
                tally("summary_map")
                content = '{"summary": "Part summary."}'
            elif "summaries of consecutive parts" in system:
                tally("summary_reduce")
                # parts: the part summaries sent, plus those already combined in earlier reduce levels
                sent = req["messages"][1]["content"]
                parts = sent.count("Part summary.") + sum(int(n) for n in re.findall(r"A summary of (\d+) parts\.", sent))
                content = '{"summary": "A summary of %d parts."}' % parts
            else:
                tally("summary")
                content = '{"summary": "A short summary."}'
        elif '"keywords"' in system:
            tally("keywords")
            content = '```json\n{"keywords": ["alpha", "beta", 7]}\n```' if model == "kwbad" else \
                '```json\n{"keywords": ["alpha", "beta"]}\n```'
        else:
            tally("category")
            content = '{"category": "invoice"}'
        self.send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}],
                                   "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}))


srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
srv.daemon_threads = True
sys.stdout.write("%d\n" % srv.server_address[1])
sys.stdout.flush()
srv.serve_forever()
