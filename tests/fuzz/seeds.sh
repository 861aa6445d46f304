#!/usr/bin/env bash
# seeds.sh DIR - write the seed corpora of the fuzz targets into DIR/<target>/
# (scripts/fuzz calls it). Seeds are small valid and almost-valid inputs, so
# the fuzzer starts inside the interesting states; CRLFs are spelled out.
set -euo pipefail
out=${1:?usage: seeds.sh DIR}
h=$out/http_request m=$out/multipart
mkdir -p "$h" "$m"
s() { printf "$2" >"$1"; } # s FILE FORMAT: printf escapes (\r\n, \0) become bytes

# --- http_request: what a client sends on one connection ---
s "$h/get" 'GET /echo?q=1&q=2&x=%%41 HTTP/1.1\r\nHost: a\r\nX-Test: 1\r\n\r\n'
s "$h/get10" 'GET /echo HTTP/1.0\r\n\r\n'
s "$h/head" 'HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\n'
s "$h/post-cl" 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello'
s "$h/post-chunked" 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n'
s "$h/pipelined" 'GET /echo HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /nope HTTP/1.1\r\n\r\nDELETE /echo HTTP/1.1\r\n\r\n'
s "$h/param" 'PUT /v1/abc%%2F/x HTTP/1.1\r\nContent-Length: 0\r\n\r\nDELETE /v1/%%FF/x HTTP/1.1\r\n\r\n'
s "$h/stream" 'POST /up HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n0123456789'
s "$h/stream-chunked" 'PATCH /up/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na\r\n1357913579\r\n0\r\n\r\nPOST /up HTTP/1.1\r\nContent-Length: 1\r\n\r\nX'
s "$h/expect-bad" 'POST /echo HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx'
s "$h/too-big" 'POST /echo HTTP/1.1\r\nContent-Length: 999999\r\n\r\nabc'
s "$h/options" 'OPTIONS /p HTTP/1.1\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n'
s "$h/upgrade" 'GET /echo HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nxyz'
s "$h/cl-te" 'POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
s "$h/dup-headers" 'GET /echo HTTP/1.1\r\nX-Test: a\r\nx-test: b\r\nX-TEST: c\r\nConnection: close\r\n\r\n'
s "$h/nul" 'GET /echo\0 HTTP/1.1\r\nX-Test: a\0b\r\n\r\n'
s "$h/405" 'PATCH /echo HTTP/1.1\r\n\r\n'
printf 'GET /echo HTTP/1.1\r\nX-Long: %s\r\n\r\n' "$(head -c 3000 /dev/zero | tr '\0' a)" >"$h/huge-header"
printf 'GET /%s HTTP/1.1\r\n\r\n' "$(head -c 600 /dev/zero | tr '\0' b)" >"$h/huge-url"

# --- multipart: a Content-Type line, then the body ---
s "$m/simple" 'multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n'
s "$m/two" 'multipart/form-data; boundary="a b"\npreamble\r\n--a b\r\nContent-Disposition: form-data; name=note\r\n\r\nx\r\n--a b\r\n\r\n--a b-\r\n--a b--epilogue'
s "$m/rfc5987" "multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxk\\n------WebKitFormBoundary7MA4YWxk\\r\\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%%E2%%82%%AC.pdf\\r\\n\\r\\n%%PDF\\r\\n\\r\\n------WebKitFormBoundary7MA4YWxk--"
s "$m/truncated" 'multipart/form-data; boundary=q\n--q\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc\r\n--'
s "$m/no-headers" 'multipart/form-data; boundary=1\n--1\r\n\r\n\r\n--1--'
s "$m/bad" 'multipart/form-data; boundary=x\n--x\r\nContent-Disposition: attachment; name="f"\r\nbroken header\r\n\r\n'
