#!/usr/bin/env python3
"""Validate STIX 2.1 files with the OASIS stix2-validator (``stix2validator``).

Used by tests/taxii.rs. Prints one JSON document on stdout:
``[{"file", "valid", "errors": [...], "warnings": [...]}, ...]``; exits 0
either way (the test asserts on the JSON).
"""

import json
import sys

from stix2validator import ValidationOptions, validate_instance


def main():
    options = ValidationOptions(version="2.1")
    results = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            instance = json.load(f)
        r = validate_instance(instance, options)
        results.append({
            "file": path,
            "valid": r.is_valid,
            "errors": [str(e) for e in r.errors],
            "warnings": [str(w) for w in r.warnings],
        })
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
