#!/usr/bin/env python3
"""Validates CDI spec files against the official CDI JSON schema.

Usage: validate_cdi_schema.py SCHEMA_DIR SPEC.json...

SCHEMA_DIR holds schema.json and defs.json (schema.json refers to defs.json
with a relative $ref, resolved here against file://SCHEMA_DIR/). Prints one
line per problem and exits 0 when every spec is valid, 1 when one is not, and
3 when python3-jsonschema is missing or the schema cannot be loaded.
"""
import json
import os
import sys
import warnings


def main(argv):
    if len(argv) < 3:
        print(f"usage: {argv[0]} SCHEMA_DIR SPEC.json...", file=sys.stderr)
        return 2
    try:
        import jsonschema
    except ImportError:
        print("validate_cdi_schema: the Python module 'jsonschema' is missing: "
              "install the Debian package python3-jsonschema "
              "(scripts/install-deps.sh test)", file=sys.stderr)
        return 3
    schema_dir = os.path.abspath(argv[1])
    try:
        with open(os.path.join(schema_dir, "schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        print(f"validate_cdi_schema: cannot load the schema: {e}", file=sys.stderr)
        return 3
    # RefResolver is what python3-jsonschema 4.10 (Debian 12) offers; newer
    # releases deprecate it but still ship it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver(base_uri=f"file://{schema_dir}/", referrer=schema)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        validator = validator_class(schema, resolver=resolver)
        failed = False
        for path in argv[2:]:
            try:
                with open(path, encoding="utf-8") as f:
                    spec = json.load(f)
            except (OSError, ValueError) as e:
                print(f"{path}: cannot read JSON: {e}")
                failed = True
                continue
            errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
            for error in errors:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                print(f"{path}: {where}: {error.message}")
            failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
