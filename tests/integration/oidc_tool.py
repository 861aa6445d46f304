#!/usr/bin/env python3
"""oidc_tool.py - a stand-in external identity provider for tests/integration/auth.sh.

Keys are made and tokens signed by the openssl command line tool; this script
only does the JSON and base64url glue (standard library only).

  oidc_tool.py jwks OUT KEY.pem:KID [KEY.pem:KID ...]   write a JWKS of the public halves
  oidc_tool.py sign KEY.pem ALG KID PAYLOAD_JSON        print a compact JWS (RS256 | ES256 | HS256 | none)
"""
import base64
import json
import subprocess
import sys


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, check=True, capture_output=True).stdout


def der_ints(der: bytes):
    """The two INTEGERs of an ECDSA-Sig-Value SEQUENCE."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(int.from_bytes(der[i + 2 : i + 2 + n], "big"))
        i += 2 + n
    return out


def jwk(path: str, kid: str) -> dict:
    text = openssl("pkey", "-in", path, "-noout", "-text").decode()
    if "modulus" in text.lower():
        mod = openssl("rsa", "-in", path, "-noout", "-modulus").decode().strip().split("=", 1)[1]
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u(bytes.fromhex(mod)), "e": "AQAB"}
    pub = openssl("pkey", "-in", path, "-pubout", "-outform", "DER")[-65:]
    assert pub[0] == 4
    return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64u(pub[1:33]), "y": b64u(pub[33:])}


def sign(path: str, alg: str, kid: str, payload: str) -> str:
    head = b64u(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64u(payload.encode())
    signing_input = f"{head}.{body}".encode()
    if alg == "none":
        return f"{head}.{body}."
    if alg == "HS256":  # the classic confusion: HMAC keyed with the public key's bytes
        pub = openssl("pkey", "-in", path, "-pubout")
        sig = openssl("dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + pub.hex(), "-binary", data=signing_input)
    else:
        sig = openssl("dgst", "-sha256", "-sign", path, "-binary", data=signing_input)
        if alg == "ES256":
            r, s = der_ints(sig)
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{head}.{body}.{b64u(sig)}"


def main() -> None:
    if sys.argv[1] == "jwks":
        keys = [jwk(*spec.rsplit(":", 1)) for spec in sys.argv[3:]]
        with open(sys.argv[2], "w") as f:
            json.dump({"keys": keys}, f)
    elif sys.argv[1] == "sign":
        print(sign(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
