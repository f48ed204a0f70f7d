#!/usr/bin/env python3
"""Converts docs/openapi.yaml to JSON and writes it as a C++ source that
defines cartd::openapi_document() (bindings/openapi/openapi_document.hpp).

    embed_openapi.py <openapi.yaml> <out.cpp>

Runs at build time (python3 with python3-yaml). The JSON is compact, keeps
the document's order of keys, and is ASCII only (other characters are
escaped), so the C++ raw string holds it byte for byte.
"""

import json
import sys

import yaml

DELIMITER = "openapi_json"


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: embed_openapi.py <openapi.yaml> <out.cpp>")
    with open(argv[1], encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if not isinstance(document, dict) or "openapi" not in document:
        sys.exit(f"{argv[1]}: not an OpenAPI document")
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=True)
    if ")" + DELIMITER + '"' in text:
        sys.exit(f"{argv[1]}: the JSON holds the raw string's delimiter")
    source = (
        "// Generated from docs/openapi.yaml by "
        "bindings/openapi/embed_openapi.py: do not edit.\n"
        '#include "bindings/openapi/openapi_document.hpp"\n\n'
        "namespace cartd {\n\n"
        "namespace {\n\n"
        f'constexpr char document[] = R"{DELIMITER}({text}){DELIMITER}";\n\n'
        "} // namespace\n\n"
        "std::string_view openapi_document() noexcept {\n"
        "  return {document, sizeof(document) - 1};\n"
        "}\n\n"
        "} // namespace cartd\n"
    )
    # Rewritten only when it changed, so an edit of the YAML's comments
    # does not recompile anything.
    try:
        with open(argv[2], encoding="utf-8") as f:
            if f.read() == source:
                return
    except FileNotFoundError:
        pass
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(source)


if __name__ == "__main__":
    main(sys.argv)
