#!/usr/bin/env python3
"""Every client, and the jamba CLI, routed through the shipped nginx config to three jambad
replicas: deploy/nginx/jambad.conf (Debian's nginx, a consistent hash on x-jamba-session) in
front of three jambad processes (demo model), each with its own session directory, so a session
exists on one replica only and a call that reaches another fails with NOT_FOUND. Each language's
resume_document example ingests a document (create, append, ask) and, in a new process, resumes
it (get, ask); the CLI creates, appends, asks, lists checkpoints and deletes. All of it must
succeed, which it can only if every call names its session. A control shows the setup tells:
the same calls without the metadata fail.

Usage: routing_test.py --build-dir BUILD_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(SOURCE_DIR / "clients" / "conformance"))
from jambad_server import JambadServer  # noqa: E402

API_KEY = "routing-key-1"
DOCUMENT = SOURCE_DIR / "clients" / "conformance" / "document.txt"
REPLICAS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_nginx(prefix: Path, replicas: list[str], listens: dict[str, int]) -> None:
    """deploy/nginx/jambad.conf with the replicas' addresses in its upstreams (their parameters
    kept) and loopback listen ports, made into a main config under prefix by check-nginx."""
    server_line = re.compile(r"^(\s*)server \S+:\d+( [^;]*)?;\s*$")
    listen_line = re.compile(r"^(\s*)listen (\d+)( [^;]*)?;(.*)$")
    out, index = [], 0
    for line in (SOURCE_DIR / "deploy" / "nginx" / "jambad.conf").read_text().splitlines():
        if line.startswith("upstream "):
            index = 0
        match = server_line.match(line)
        if match:
            line = f"{match.group(1)}server {replicas[index]}{match.group(2) or ''};"
            index += 1
        match = listen_line.match(line)
        if match and match.group(2) in listens:
            line = (f"{match.group(1)}listen 127.0.0.1:{listens[match.group(2)]}"
                    f"{match.group(3) or ''};{match.group(4)}")
        out.append(line)
    conf = prefix / "jambad.conf.in"
    conf.write_text("\n".join(out) + "\n")
    script = SOURCE_DIR / "tests" / "deploy" / "check-nginx"
    subprocess.run(["bash", "-c", 'source "$1" && jamba_nginx_render "$2" "$3" plaintext', "bash",
                    str(script), str(prefix), str(conf)], check=True)


@contextlib.contextmanager
def nginx(prefix: Path, port: int):
    process = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
         str(prefix / "logs" / "error.log"), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        give_up = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError("nginx did not start: "
                                   + (prefix / "logs" / "error.log").read_text(errors="replace"))
            time.sleep(0.05)
        yield
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def example(language: str, build_dir: Path) -> list[str]:
    return {
        "python": [str(SOURCE_DIR / "clients" / "python" / "python.sh"),
                   str(SOURCE_DIR / "clients" / "python" / "examples" / "resume_document.py")],
        "cpp": [str(build_dir / "clients" / "cpp" / "jamba_client_resume_document")],
        "go": [str(build_dir / "clients" / "go" / "bin" / "resume-document")],
        "java": ["java", "-jar", str(build_dir / "clients" / "java" / "jamba-examples.jar")],
        "node": ["node", str(SOURCE_DIR / "clients" / "node" / "dist" / "examples"
                             / "resume_document.js")],
    }[language]


class Runner:
    def __init__(self, build_dir: Path) -> None:
        self.build_dir = build_dir
        self.env = dict(os.environ, JAMBA_BUILD_DIR=str(build_dir))
        self.passed = 0
        self.failed = 0

    def run(self, command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                env=self.env)
        print(f"$ {' '.join(command[-10:])}\n{result.stdout[-600:]}{result.stderr[-1500:]}",
              flush=True)
        if result.returncode != 0:
            raise AssertionError(f"exit status {result.returncode}")
        return result.stdout

    def check(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
            self.passed += 1
            print(f"{name}: passed", flush=True)
        except (AssertionError, OSError, subprocess.TimeoutExpired) as error:
            self.failed += 1
            print(f"{name}: FAILED: {error}", flush=True)


def unrouted_control(address: str, env: dict[str, str]) -> None:
    """The same kind of calls without x-jamba-session reach the replicas round robin: a session
    created on one is NOT_FOUND on the others, so some of them fail."""
    code = (
        "import sys, grpc\n"
        "from jamba.v1 import session_service_pb2 as s, session_service_pb2_grpc as g\n"
        "stub = g.SessionServiceStub(grpc.insecure_channel(sys.argv[1]))\n"
        "md = (('authorization', 'Bearer ' + sys.argv[2]),)\n"
        "stub.CreateSession(s.CreateSessionRequest(session_id='unrouted'), metadata=md)\n"
        "missing = 0\n"
        "for _ in range(9):\n"
        "    try:\n"
        "        stub.GetSession(s.GetSessionRequest(name='sessions/unrouted'), metadata=md)\n"
        "    except grpc.RpcError as e:\n"
        "        assert e.code() == grpc.StatusCode.NOT_FOUND, e\n"
        "        missing += 1\n"
        "print(missing)\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(code)
        script.flush()
        result = subprocess.run(
            [str(SOURCE_DIR / "clients" / "python" / "python.sh"), script.name, address, API_KEY],
            capture_output=True, text=True, timeout=60, check=False, env=env)
    if result.returncode != 0:
        raise AssertionError(result.stderr[-1500:])
    if int(result.stdout.strip()) == 0:
        raise AssertionError("every unrouted call found the session: the setup cannot tell")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, required=True)
    build_dir = parser.parse_args().build_dir.resolve()
    if shutil.which("nginx") is None:
        print("routing_test: nginx is not installed (scripts/install-deps installs it)")
        return 1
    jambad, model = build_dir / "service" / "jambad", build_dir / "demo-model"
    runner = Runner(build_dir)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jamba-routing-")))
        servers = []
        for i in range(REPLICAS):
            sessions = tmp / f"sessions-{i}"
            sessions.mkdir()
            servers.append(stack.enter_context(
                JambadServer(jambad, model, {"routing": API_KEY}, session_dir=sessions)))
        grpc_port, http_port = free_port(), free_port()
        prefix = tmp / "nginx"
        prefix.mkdir()
        listens = {"50051": grpc_port, "8000": http_port}
        render_nginx(prefix, [s.address for s in servers], listens)
        stack.enter_context(nginx(prefix, grpc_port))
        address = f"127.0.0.1:{grpc_port}"
        common = ["--server", address, "--api-key", API_KEY]

        runner.check("control: unrouted calls miss the session",
                     lambda: unrouted_control(address, runner.env))

        def resume_document(language: str, session: str) -> None:
            runner.run(example(language, build_dir) + common + [
                "--step", "ingest", "--session", session, "--document", str(DOCUMENT)])
            runner.run(example(language, build_dir) + common + [
                "--step", "resume", "--session", session, "--question", "Why?"])

        for language in ("python", "cpp", "go", "java", "node"):
            for n in range(2):
                session = f"routed-{language}-{n}"
                runner.check(f"{language}: {session} ingested and resumed through nginx",
                             lambda lang=language, s=session: resume_document(lang, s))

        jamba = str(build_dir / "tools" / "jamba")

        def cli(session: str) -> None:
            for args in (["create", "--id", session],
                         ["append", "--id", session, "--file", str(DOCUMENT)],
                         ["ask", "--id", session, "--text", "Why?", "--max-tokens", "8",
                          "--quiet"],
                         ["checkpoints", "--id", session],
                         ["delete", "--id", session]):
                runner.run([jamba, "session", *args, *common])

        for n in range(2):
            runner.check(f"jamba CLI: routed-cli-{n} through nginx",
                         lambda s=f"routed-cli-{n}": cli(s))

        # The sessions spread over the replicas (else the test would route nothing).
        holding = [
            sum(1 for p in (tmp / f"sessions-{i}").rglob("*") if "routed-" in p.name)
            for i in range(REPLICAS)
        ]
        print(f"session files per replica: {holding}", flush=True)

        def spread() -> None:
            if sum(1 for n in holding if n > 0) < 2:
                raise AssertionError(f"all sessions on one replica: {holding}")

        runner.check("the sessions spread over the replicas", spread)
    print(f"routing: {runner.passed} passed, {runner.failed} failed")
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
