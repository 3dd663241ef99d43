#!/usr/bin/env bash
# Runs a Python program with jamba_client and its generated stubs importable: the stubs the
# build made in $JAMBA_BUILD_DIR/clients/python/gen (else those of generate_stubs.py in
# clients/python/gen), and a python3 that has grpcio and protobuf: $JAMBA_PYTHON, else the first
# of python3 and /usr/bin/python3 that has them (Debian's python3-grpcio is only in the system
# interpreter's dist-packages, which another python3 on PATH may lack).
# Usage: python.sh PROGRAM.py [ARGS...]   (the conformance program, the example, the tests)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gen="${JAMBA_BUILD_DIR:+$JAMBA_BUILD_DIR/clients/python/gen}"
gen="${gen:-$here/gen}"
if [[ ! -d $gen/jamba/v1 ]]; then
  echo "python.sh: no generated stubs in $gen (build the jamba_client_python target)" >&2
  exit 2
fi
python="${JAMBA_PYTHON:-}"
if [[ -z $python ]]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c 'import grpc, google.protobuf' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
fi
if [[ -z $python ]]; then
  echo "python.sh: no python3 with grpcio and protobuf (run scripts/install-deps)" >&2
  exit 2
fi
export PYTHONPATH="$gen:$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" "$@"
