#!/usr/bin/env python3
"""Pull a Liaison node's TAXII 2.1 server with the OASIS taxii2-client.

Used by tests/taxii.rs: lists the API root's collections, then pulls one
collection page by page (``--limit`` objects per request, following
``next``), once in full and once with ``--added-after``. Prints one JSON
document on stdout:

    {"title", "api_root", "collections": [{id, title, can_read, can_write}],
     "pages": [[object id, ...], ...],          # the full pull, per page
     "objects": [object, ...],                   # the full pull, concatenated
     "after_pages": [[object id, ...], ...]}     # with added_after (if given)

Authentication is HTTP Basic with the node token as the password, as
taxii2-client sends it.
"""

import argparse
import json
import sys

from taxii2client.v21 import Server, as_pages


def pull(collection, limit, **filters):
    pages, objects = [], []
    for envelope in as_pages(collection.get_objects, per_request=limit, **filters):
        page = envelope.get("objects", [])
        if len(page) > limit:
            sys.exit(f"a page held {len(page)} objects, more than limit={limit}")
        pages.append([o["id"] for o in page])
        objects.extend(page)
    return pages, objects


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="discovery URL, e.g. http://127.0.0.1:7080/taxii2/")
    p.add_argument("--token", required=True, help="a node token (role analyst or admin)")
    p.add_argument("--limit", type=int, default=3, help="objects per request")
    p.add_argument("--collection", default="Everything received", help="collection title")
    p.add_argument("--added-after", help="also pull with this added_after")
    args = p.parse_args()

    server = Server(args.url, user="taxii-test", password=args.token)
    root = server.default or server.api_roots[0]
    collections = root.collections
    out = {
        "title": server.title,
        "api_root": root.title,
        "collections": [
            {"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": c.can_write}
            for c in collections
        ],
    }
    wanted = [c for c in collections if c.title == args.collection]
    if not wanted:
        sys.exit(f"no collection titled {args.collection!r}")
    out["pages"], out["objects"] = pull(wanted[0], args.limit)
    if args.added_after:
        out["after_pages"], _ = pull(wanted[0], args.limit, added_after=args.added_after)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
