#!/usr/bin/python3
"""Validate SARIF logs against the SARIF 2.1.0 JSON schema (draft-04).

    sarif_validate.py SCHEMA LOG...

Prints every violation as `LOG: /json/pointer: message` and exits 1 when
there is one, 0 when every log is valid, 2 when the schema cannot be read.
Uses Debian's python3-jsonschema with format checking (uri, date-time)."""
import datetime
import json
import sys

try:
    import jsonschema
except ImportError:
    print("sarif_validate: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        print("sarif_validate: %s: %s" % (argv[1], e), file=sys.stderr)
        return 2
    checker = jsonschema.FormatChecker()

    # jsonschema checks date-time only with a package Debian lacks; SARIF
    # wants RFC 3339 UTC times, which fromisoformat reads (3.11+)
    @checker.checks("date-time", raises=ValueError)
    def _date_time(value):
        if not isinstance(value, str):
            return True
        return datetime.datetime.fromisoformat(value) is not None and "T" in value

    validator = jsonschema.Draft4Validator(schema, format_checker=checker)
    bad = 0
    for path in argv[2:]:
        try:
            with open(path) as f:
                log = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: not JSON: %s" % (path, e))
            bad += 1
            continue
        for err in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path)):
            pointer = "/" + "/".join(str(p) for p in err.absolute_path)
            print("%s: %s: %s" % (path, pointer, err.message))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
