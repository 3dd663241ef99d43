#!/usr/bin/env bash
# The C++ client's entry point for clients/conformance/run-conformance (the per-language
# convention of clients/conformance/README.md): the jamba_client_conformance binary of the build
# in $JAMBA_BUILD_DIR. Arguments: --server HOST:PORT --scenario FILE --prefix NAME
set -euo pipefail
program="${JAMBA_BUILD_DIR:?the build directory}/clients/cpp/jamba_client_conformance"
if [[ ! -x $program ]]; then
  echo "cpp: no $program (build the jamba_client_conformance target)" >&2
  exit 2
fi
exec "$program" "$@"
