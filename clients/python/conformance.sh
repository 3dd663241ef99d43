#!/usr/bin/env bash
# The Python client's entry point for clients/conformance/run-conformance (the per-language
# convention of clients/conformance/README.md).
# Arguments: --server HOST:PORT --scenario FILE --prefix NAME
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/python.sh" "$here/conformance.py" "$@"
