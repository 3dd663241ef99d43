#!/usr/bin/env python3
"""Generates the Python protobuf and gRPC stubs that jamba_client imports.

The stubs (with .pyi type stubs of the messages) are generated from the repository's proto/
folder (jamba/v1/*.proto and the google/rpc/*.proto copies) and are never committed. They form
the top-level packages `jamba.v1` and `google.rpc` (namespace packages, no __init__.py), exactly
the module paths the .proto files import each other by.

Generators, in this order:
  1. protoc and grpc_python_plugin given with --protoc / --grpc-plugin (what CMake passes: the
     Debian packages protobuf-compiler and protobuf-compiler-grpc);
  2. the grpc_tools package (pip's grpcio-tools), when importable;
  3. protoc and grpc_python_plugin found on PATH.

Usage: generate_stubs.py [--proto-dir DIR] [--out DIR] [--protoc PATH] [--grpc-plugin PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PROTO_DIR = HERE.parent.parent / "proto"
DEFAULT_OUT_DIR = HERE / "gen"
# Only these trees: grpc/health/v1 would shadow the `grpc` package of grpcio.
PROTO_TREES = ("jamba", "google")


def proto_files(proto_dir: Path) -> list[str]:
    """The .proto files to compile, relative to proto_dir (protoc's import root)."""
    files = sorted(
        str(path.relative_to(proto_dir))
        for tree in PROTO_TREES
        for path in (proto_dir / tree).rglob("*.proto")
    )
    if not files:
        raise FileNotFoundError(f"no .proto files under {proto_dir}")
    return files


def generate(
    proto_dir: Path = DEFAULT_PROTO_DIR,
    out_dir: Path = DEFAULT_OUT_DIR,
    protoc: str | None = None,
    grpc_plugin: str | None = None,
) -> None:
    """Writes *_pb2.py and *_pb2_grpc.py for every proto file into out_dir."""
    proto_dir = Path(proto_dir).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = proto_files(proto_dir)
    common = [
        f"-I{proto_dir}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",  # type stubs of the messages, for type checkers
        f"--grpc_python_out={out_dir}",
    ]

    if protoc is None and grpc_plugin is None and importlib.util.find_spec("grpc_tools"):
        from grpc_tools import protoc as grpc_tools_protoc  # pip's grpcio-tools

        # grpc_tools bundles the well-known types (google/protobuf/*.proto).
        well_known = Path(grpc_tools_protoc.__file__).parent / "_proto"
        args = ["grpc_tools.protoc", f"-I{well_known}", *common, *files]
        if grpc_tools_protoc.main(args) != 0:
            raise RuntimeError("grpc_tools.protoc failed")
        return

    protoc = protoc or shutil.which("protoc")
    grpc_plugin = grpc_plugin or shutil.which("grpc_python_plugin")
    if not protoc or not grpc_plugin:
        raise RuntimeError(
            "no stub generator: install grpcio-tools (pip) or protoc and grpc_python_plugin "
            "(Debian: protobuf-compiler, protobuf-compiler-grpc)"
        )
    subprocess.run(
        [protoc, f"--plugin=protoc-gen-grpc_python={grpc_plugin}", *common, *files],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", type=Path, default=DEFAULT_PROTO_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--protoc", help="protoc binary (default: grpc_tools, else PATH)")
    parser.add_argument("--grpc-plugin", help="grpc_python_plugin binary")
    args = parser.parse_args()
    try:
        generate(args.proto_dir, args.out, args.protoc, args.grpc_plugin)
    except (RuntimeError, FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"generate_stubs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
