#!/usr/bin/env bash
# The Go client's entry point for clients/conformance/run-conformance (the per-language
# convention of clients/conformance/README.md): the jamba-conformance program of the build in
# $JAMBA_BUILD_DIR. Arguments: --server HOST:PORT --scenario FILE --prefix NAME
set -euo pipefail
program="${JAMBA_BUILD_DIR:?the build directory}/clients/go/bin/jamba-conformance"
if [[ ! -x $program ]]; then
  echo "go: no $program (build the jamba_client_go target)" >&2
  exit 2
fi
exec "$program" "$@"
