#!/usr/bin/env python3
"""Runs the Go, Java and Node resume_document examples against a real jambad (demo model) over
TLS and mutual TLS: a document ingested by one language's process is resumed by another's after
a server restart, and the resumed question must restore the whole document; each language reports a missing session
and a bad API key with the gRPC code and the ErrorInfo reason; with client certificates
required, each connects with its certificate and is refused without one. Then each language's
tool_call example on the reasoning-3b demo model, over TLS: the model calls the weather tool,
the example sends the result back, and generation goes on from a longer prompt.

Usage: examples_go_java_node_test.py --build-dir BUILD_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(SOURCE_DIR / "clients" / "conformance"))
from jambad_server import JambadServer  # noqa: E402

API_KEY = "examples-key-1"
DOCUMENT = SOURCE_DIR / "clients" / "conformance" / "document.txt"
INGESTED = re.compile(r"ingested sessions/\S+: (\d+) tokens")
USAGE = re.compile(r"; (\d+) prompt tokens: (\d+) restored, (\d+) computed; (\d+) generated\]")
TURN = re.compile(r"^\[(FINISH_REASON_\w+); (\d+) prompt tokens, (\d+) generated\]$", re.M)
TOOL_CALL = re.compile(r"^tool call (call_\w+): get_weather (.*)$", re.M)


def tool_call_example(language: str, build_dir: Path) -> list[str]:
    if language == "go":
        return [str(build_dir / "clients" / "go" / "bin" / "tool-call")]
    if language == "java":
        jar = build_dir / "clients" / "java" / "jamba-examples.jar"
        return ["java", "-cp", str(jar), "ai.jamba.examples.ToolCallExample"]
    return ["node", str(SOURCE_DIR / "clients" / "node" / "dist" / "examples" / "tool_call.js")]


def check_tool_call(out: str) -> None:
    """The tool_call example's output: a forced call, its result, and a second turn."""
    if "tool calls read as 'hermes'" not in out:
        raise AssertionError("the example did not report the model's tool-call format")
    call = TOOL_CALL.search(out)
    if call is None or "tool result: " not in out:
        raise AssertionError("no tool call of get_weather and its result")
    json.loads(call.group(2))  # the arguments are JSON
    turns = TURN.findall(out)
    if len(turns) != 2 or turns[0][0] != "FINISH_REASON_TOOL_CALLS":
        raise AssertionError(f"turns {turns}: a tool call, then the reply to its result")
    if int(turns[1][1]) <= int(turns[0][1]) or int(turns[1][2]) < 1:
        raise AssertionError(f"turns {turns}: the second prompt carries the call and result")


def example(language: str, build_dir: Path) -> list[str]:
    if language == "go":
        return [str(build_dir / "clients" / "go" / "bin" / "resume-document")]
    if language == "java":
        return ["java", "-jar", str(build_dir / "clients" / "java" / "jamba-examples.jar")]
    return ["node", str(SOURCE_DIR / "clients" / "node" / "dist" / "examples" / "resume_document.js")]


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (openssl)."""
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    for command in (
        f"openssl req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        f"openssl req {key} -keyout server.key -out server.csr -subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.pem",
        f"openssl req {key} -keyout client.key -out client.csr -subj /CN=client",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile client.ext -out client.pem",
    ):
        subprocess.run(command, shell=True, cwd=directory, check=True, capture_output=True)


class Runner:
    def __init__(self, build_dir: Path) -> None:
        self.build_dir = build_dir
        self.passed = 0
        self.failed = 0

    def run(self, language: str, args: list[str], expect_ok: bool = True,
            program: Callable[[str, Path], list[str]] = example) -> subprocess.CompletedProcess[str]:
        command = program(language, self.build_dir) + args
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        print(f"$ {language} {' '.join(args)}\n{result.stdout}{result.stderr[-1500:]}", flush=True)
        if (result.returncode == 0) != expect_ok:
            raise AssertionError(f"exit status {result.returncode}")
        return result

    def check(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
            self.passed += 1
            print(f"{name}: passed", flush=True)
        except (AssertionError, AttributeError, ValueError, subprocess.TimeoutExpired) as error:
            self.failed += 1
            print(f"{name}: FAILED: {error}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, required=True)
    build_dir = parser.parse_args().build_dir.resolve()
    jambad, model = build_dir / "service" / "jambad", build_dir / "demo-model"
    runner = Runner(build_dir)
    with tempfile.TemporaryDirectory(prefix="jamba-examples-") as tmp:
        certs = Path(tmp)
        make_certificates(certs)
        tls = ["--ca", str(certs / "ca.pem")]
        client_cert = ["--cert", str(certs / "client.pem"), "--key", str(certs / "client.key")]
        server_tls = ("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))

        # TLS: ingest in one language; stop jambad; resume in another language (a new process)
        # from a new jambad on the same session directory.
        sessions = certs / "sessions"

        def resume_pair(ingest: str, resume: str) -> None:
            session = f"{ingest}-then-{resume}"
            with JambadServer(jambad, model, {"examples": API_KEY}, extra_flags=server_tls,
                              session_dir=sessions) as server:
                out = runner.run(ingest, ["--step", "ingest", "--session", session,
                                          "--document", str(DOCUMENT), "--server", server.address,
                                          "--api-key", API_KEY] + tls).stdout
            ingested = int(INGESTED.search(out).group(1))
            with JambadServer(jambad, model, {"examples": API_KEY}, extra_flags=server_tls,
                              session_dir=sessions) as server:
                out = runner.run(resume, ["--step", "resume", "--session", session,
                                          "--question", "Why?", "--server", server.address,
                                          "--api-key", API_KEY] + tls).stdout
            prompt, restored, computed, generated = map(int, USAGE.search(out).groups())
            if restored < ingested or prompt != restored + computed or generated < 1:
                raise AssertionError(f"resumed usage {prompt}/{restored}/{computed}/"
                                     f"{generated}, document {ingested} tokens")

        for ingest, resume in (("go", "java"), ("java", "node"), ("node", "go")):
            runner.check(f"TLS: {ingest} ingest -> restart -> {resume} resume",
                         lambda i=ingest, r=resume: resume_pair(i, r))

        # TLS errors: the gRPC code and the ErrorInfo reason reach the caller.
        with JambadServer(jambad, model, {"examples": API_KEY}, extra_flags=server_tls) as server:
            common = ["--server", server.address, "--api-key", API_KEY] + tls

            def errors(language: str) -> None:
                missing = runner.run(language, ["--step", "resume", "--session", "no-such"]
                                     + common, expect_ok=False).stderr
                if "NOT_FOUND" not in missing or "SESSION_NOT_FOUND" not in missing:
                    raise AssertionError("no NOT_FOUND / SESSION_NOT_FOUND on stderr")
                bad_key = runner.run(language, ["--step", "resume", "--session", "x", "--server",
                                                server.address, "--api-key", "wrong"] + tls,
                                     expect_ok=False).stderr
                if "UNAUTHENTICATED" not in bad_key or "API_KEY_INVALID" not in bad_key:
                    raise AssertionError("no UNAUTHENTICATED / API_KEY_INVALID on stderr")

            for language in ("go", "java", "node"):
                runner.check(f"TLS: {language} errors keep code and reason",
                             lambda lang=language: errors(lang))

        # Mutual TLS required: each language connects with its certificate, not without.
        mtls_flags = server_tls + ("--tls-client-ca", str(certs / "ca.pem"),
                                   "--tls-require-client-cert", "true")
        with JambadServer(jambad, model, {"examples": API_KEY}, extra_flags=mtls_flags) as server:
            common = ["--server", server.address, "--api-key", API_KEY] + tls

            def mutual(language: str) -> None:
                session = f"mtls-{language}"
                runner.run(language, ["--step", "ingest", "--session", session,
                                      "--document", str(DOCUMENT)] + common + client_cert)
                refused = runner.run(language, ["--step", "resume", "--session", session]
                                     + common, expect_ok=False).stderr
                if "UNAVAILABLE" not in refused:
                    raise AssertionError("without a certificate: no UNAVAILABLE on stderr")

            for language in ("go", "java", "node"):
                runner.check(f"mTLS: {language} with and without a client certificate",
                             lambda lang=language: mutual(lang))

        # A tool-call round trip on the reasoning-3b demo model, over TLS.
        reasoning_model = build_dir / "demo-model-reasoning-3b"
        with JambadServer(jambad, reasoning_model, {"examples": API_KEY},
                          extra_flags=server_tls) as server:
            common = ["--server", server.address, "--api-key", API_KEY] + tls

            def tool_call(language: str) -> None:
                out = runner.run(language, common + ["--tool-choice", "get_weather"],
                                 program=tool_call_example).stdout
                check_tool_call(out)

            for language in ("go", "java", "node"):
                runner.check(f"TLS: {language} tool call round trip",
                             lambda lang=language: tool_call(lang))
    print(f"examples: {runner.passed} passed, {runner.failed} failed")
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
