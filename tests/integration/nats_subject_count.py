#!/usr/bin/env python3
# nats_subject_count.py NATS_URL STREAM SUBJECT - print how many messages STREAM holds on SUBJECT, asking
# JetStream's STREAM.INFO API over the plain NATS protocol (no client library needed).
import json, socket, sys, urllib.parse

url = urllib.parse.urlparse(sys.argv[1].split(",")[0])
s = socket.create_connection((url.hostname, url.port or 4222), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
req = json.dumps({"subjects_filter": sys.argv[3]}).encode()
s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.count 1\r\n' +
          b"PUB $JS.API.STREAM.INFO." + sys.argv[2].encode() + b" _INBOX.count " + str(len(req)).encode() +
          b"\r\n" + req + b"\r\nPING\r\n")
while True:
    line = f.readline()
    if not line:
        sys.exit("no answer from " + sys.argv[1])
    if line.startswith(b"PING"):
        s.sendall(b"PONG\r\n")
    elif line.startswith(b"MSG") or line.startswith(b"HMSG"):
        n = int(line.split()[-1])
        info = json.loads(f.read(n + 2)[:n])
        print(sum((info.get("state", {}).get("subjects") or {}).values()))
        break
