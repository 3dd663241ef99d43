"""setuptools hook of jamba-client (metadata is in pyproject.toml): build_py also generates the
protobuf/gRPC stubs from the repository's proto/ (or $JAMBA_PROTO_DIR) into the build, so the
wheel carries them and the source tree never does."""

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate_stubs  # noqa: E402


class BuildPyWithStubs(build_py):
    """build_py, then the stubs generated into build_lib."""

    def run(self) -> None:
        super().run()
        proto_dir = Path(os.environ.get("JAMBA_PROTO_DIR", generate_stubs.DEFAULT_PROTO_DIR))
        generate_stubs.generate(proto_dir, Path(self.build_lib))


setup(cmdclass={"build_py": BuildPyWithStubs})
