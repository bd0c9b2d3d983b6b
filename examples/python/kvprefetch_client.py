#!/usr/bin/env python3
"""A client of `kvprefetch serve` with the standard library alone (urllib).

An engine in Python stores its KV-cache blocks through the service, reads
them back (from the flat tier, else from cold), and tells it which blocks a
request will need before it runs, so that they are in flat when it does.

    from kvprefetch_client import Client
    c = Client("http://127.0.0.1:8420", token=None)
    c.put("tp-default", "ab" * 32, payload, parent=None, position=0)
    data, meta = c.get("tp-default", "ab" * 32)
    c.hint("tp-default", ["cd" * 32], lead_ms=500)
    c.dynamo_hint([1234, 5678], namespace="tp-default", lead_ms=500)

Run as a script against a server, it checks a round trip and a hint:

    python3 examples/python/kvprefetch_client.py http://127.0.0.1:8420 [--token-file FILE] [--namespace NS]
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

KEY_PREFIX = "wombatkv/v1/block/b3="


class KVError(Exception):
    """An error answer: its HTTP status and the server's stable code."""

    def __init__(self, status, code, message, field=None):
        super().__init__("%d %s: %s%s" % (status, code, message, " (field %s)" % field if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field


def hash_of_u64(v):
    """The block hash (64 hex digits) a Dynamo 64-bit block hash names."""
    return "%064x" % v


class Client:
    def __init__(self, base_url, token=None, timeout=30.0):
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=dict(headers or {}))
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)
                raise KVError(e.code, err["code"], err["message"], err.get("field")) from None
            except (ValueError, KeyError):
                raise KVError(e.code, "http", raw.decode("utf-8", "replace") or e.reason) from None

    def put(self, namespace, block_hex, payload, parent=None, position=0):
        """Store a block (its hash as 64 hex digits) with its parent and position."""
        headers = {"Content-Type": "application/octet-stream", "X-Kv-Position": str(position)}
        if parent:
            headers["X-Kv-Parent"] = parent
        _, _, body = self._request("PUT", "/v1/blocks/%s/%s%s" % (namespace, KEY_PREFIX, block_hex), payload, headers)
        return json.loads(body)

    def get(self, namespace, block_hex):
        """Return (payload, metadata headers) of a block; KVError code not_found if no tier holds it."""
        _, headers, body = self._request("GET", "/v1/blocks/%s/%s" % (namespace, block_hex))
        meta = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-kv-")}
        return body, meta

    def hint(self, namespace, blocks_hex, lead_ms=None, due=None, priority=0):
        """Announce blocks a request will read in lead_ms (or at due, RFC 3339)."""
        group = {"namespace": namespace, "blocks": list(blocks_hex), "priority": priority}
        if lead_ms is not None:
            group["lead_ms"] = int(lead_ms)
        if due is not None:
            group["due"] = due
        return self._post_hints({"hints": [group]})

    def dynamo_hint(self, block_hashes, namespace=None, lead_ms=None, source_control_endpoint=None):
        """Announce blocks in Dynamo's router_hint shape (64-bit block hashes)."""
        router_hint = {"block_hashes": [int(h) for h in block_hashes]}
        if source_control_endpoint:
            router_hint["source_control_endpoint"] = source_control_endpoint
        body = {"router_hint": router_hint}
        if namespace:
            body["namespace"] = namespace
        if lead_ms is not None:
            body["lead_ms"] = int(lead_ms)
        return self._post_hints(body)

    def _post_hints(self, body):
        _, _, raw = self._request("POST", "/v1/hints", json.dumps(body).encode(), {"Content-Type": "application/json"})
        return json.loads(raw)

    def status(self):
        _, _, raw = self._request("GET", "/v1/status")
        return json.loads(raw)


def main(argv):
    ap = argparse.ArgumentParser(description="Check a kvprefetch serve: a round trip, errors, hints.")
    ap.add_argument("url", help="the server, e.g. http://127.0.0.1:8420")
    ap.add_argument("--token-file", help="a file holding the server's bearer token")
    ap.add_argument("--namespace", default="tp-default", help="the namespace to use (default tp-default)")
    args = ap.parse_args(argv[1:])
    token = None
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    c = Client(args.url, token=token)
    ns = args.namespace

    # A round trip, byte for byte, with the metadata from the index.
    block, parent = "0123456789abcdef" * 4, "fedcba9876543210" * 4
    payload = bytes((i * 7) % 256 for i in range(100000))
    put = c.put(ns, block, payload, parent=parent, position=3)
    data, meta = c.get(ns, block)
    if data != payload or meta.get("x-kv-parent") != parent or meta.get("x-kv-position") != "3":
        print("round trip mismatch: %d bytes, meta %s" % (len(data), meta), file=sys.stderr)
        return 1
    print("put %d bytes to %s, read them back from %s" % (put["bytes"], put["tier"], meta.get("x-kv-tier")))

    # A block no tier holds.
    try:
        c.get(ns, "00" * 32)
        print("a missing block was served", file=sys.stderr)
        return 1
    except KVError as e:
        if e.code != "not_found":
            raise
        print("missing block: %d %s" % (e.status, e.code))

    # Bad input is refused with the field at fault.
    try:
        c.hint(ns, ["not-hex"], lead_ms=10)
        print("a bad hint was accepted", file=sys.stderr)
        return 1
    except KVError as e:
        print("bad hint: %d %s %s" % (e.status, e.code, e.field))

    # Hints, native and Dynamo's: the answer comes at once.
    print("hint: %s" % json.dumps(c.hint(ns, [block], lead_ms=500), sort_keys=True))
    print("dynamo hint: %s" % json.dumps(c.dynamo_hint([42], namespace=ns, lead_ms=500), sort_keys=True))
    st = c.status()
    print("status: ready=%s index=%d flat_blocks=%d" % (st["ready"], st["index"]["entries"], st["flat"]["blocks"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
