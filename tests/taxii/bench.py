#!/usr/bin/env python3
"""Objects/s that a Liaison node's TAXII 2.1 server serves to taxii2-client.

Not run in CI. Either point it at a running node:

    bench.py --url http://127.0.0.1:7080/taxii2/ --token TOKEN

or let it build the setup itself from a `liaison` binary (two nodes on
127.0.0.1 with ephemeral ports in a temporary directory, an open agreement,
and --bundles x --per-bundle STIX objects shared from one to the other):

    cargo build --release
    ~/.cache/liaison-py/bin/python tests/taxii/bench.py \\
        --liaison "$CARGO_TARGET_DIR/release/liaison" --bundles 20 --per-bundle 1000

Then it pulls the "Everything received" collection with
`as_pages(get_objects, per_request=--page)` (the server's largest page is
10 000) --runs times and prints the rate of each run (the first one also
parses the bundles into the node's cache) and the best.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
import uuid

from taxii2client.v21 import Server, as_pages

OPEN_AGREEMENT = """
title = "bench: everything both ways"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "red"
content = { kinds = ["stix"], stix_types = ["*"] }
[inbound]
max_tlp = "red"
content = { kinds = ["stix"], stix_types = ["*"] }
"""
FAST = "\n[delivery]\nrequest_timeout_ms = 10000\nbackoff_base_ms = 200\nbackoff_max_ms = 2000\n"


class Node:
    def __init__(self, binary, root, name):
        self.binary, self.name = binary, name
        self.home = os.path.join(root, name)
        out = subprocess.run(
            [binary, "init", "--org", name, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0",
             "--home", self.home],
            check=True, capture_output=True, text=True, timeout=60).stdout
        self.token = next(l.split(": ", 1)[1].strip() for l in out.splitlines()
                          if l.startswith("admin token: "))
        with open(os.path.join(self.home, "config.toml"), "rb") as f:
            self.api = tomllib.load(f)["node"]["api"]
        with open(os.path.join(self.home, "config.toml"), "a") as f:
            f.write(FAST)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.home, "serve.log"), "a")
        self.proc = subprocess.Popen([self.binary, "serve", "--home", self.home],
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        ready = threading.Event()

        def watch():
            for line in self.proc.stdout:
                if " serving: " in line:
                    ready.set()
        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(60):
            self.stop()
            sys.exit(f"{self.name} did not start within 60 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.api}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)

    def card(self):
        with open(os.path.join(self.home, "card.json")) as f:
            return json.load(f)


def wait(what, predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.2)


def stix_bundle(tag, n):
    objects = [{
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "name": f"{tag} indicator {i}", "description": f"Benchmark indicator {i} of {tag}.",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '198.51.{(i // 250) % 250}.{i % 250 + 1}']",
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z",
    } for i in range(n)]
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def setup(binary, root, bundles, per_bundle):
    a, b = Node(binary, root, "acme"), Node(binary, root, "bolt")
    nodes = [a, b]
    try:
        a.start()
        b.start()
        a.call("POST", "/api/peers", {"card": b.card(), "name": "bolt"})
        b.call("POST", "/api/peers", {"card": a.card(), "name": "acme"})
        proposed = a.call("POST", "/api/agreements", {"peer": "bolt", "toml": OPEN_AGREEMENT})
        aid, version = proposed["id"], proposed["version"]

        def state(node):
            return next((x["state"] for x in node.call("GET", "/api/agreements")
                         if x["id"] == aid and x["version"] == version), None)
        wait("the proposal", lambda: state(b) == "proposed_by_peer")
        b.call("POST", f"/api/agreements/{aid}/sign", {})
        wait("the countersignature", lambda: state(a) == "in_force")
        t0 = time.monotonic()
        for i in range(bundles):
            a.call("POST", "/api/shares",
                   {"tlp": "amber", "to": ["bolt"], "content": stix_bundle(f"b{i}", per_bundle)})
        wait("the deliveries",
             lambda: len(b.call("GET", "/api/inbox?limit=100000")) == bundles, timeout=900)
        print(f"setup: {bundles} bundles x {per_bundle} objects shared and delivered in "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    except BaseException:
        for n in nodes:
            n.stop()
        raise
    return nodes, f"http://{b.api}/taxii2/", b.token


def pull(url, token, page):
    server = Server(url, user="bench", password=token)
    root = server.default or server.api_roots[0]
    collection = next(c for c in root.collections if c.title == "Everything received")
    t0 = time.monotonic()
    count = sum(len(env.get("objects", []))
                for env in as_pages(collection.get_objects, per_request=page))
    return count, time.monotonic() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="discovery URL of a running node")
    p.add_argument("--token", help="its token (analyst or admin)")
    p.add_argument("--liaison", help="a liaison binary: build the two-node setup with it")
    p.add_argument("--bundles", type=int, default=20)
    p.add_argument("--per-bundle", type=int, default=1000)
    p.add_argument("--page", type=int, default=10000, help="objects per request")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    nodes = []
    with tempfile.TemporaryDirectory(prefix="liaison-taxii-bench-") as root:
        try:
            if args.liaison:
                nodes, url, token = setup(args.liaison, root, args.bundles, args.per_bundle)
            elif args.url and args.token:
                url, token = args.url, args.token
            else:
                p.error("give --url and --token, or --liaison")
            rates = []
            for run in range(args.runs):
                count, secs = pull(url, token, args.page)
                rates.append(count / secs)
                print(f"run {run + 1}: {count} objects in {secs:.3f} s = "
                      f"{count / secs:,.0f} objects/s (page {args.page})")
            print(json.dumps({"objects": count, "page": args.page,
                              "objects_per_s_best": round(max(rates)),
                              "objects_per_s_first": round(rates[0])}))
        finally:
            for n in nodes:
                n.stop()


if __name__ == "__main__":
    main()
