#!/usr/bin/env python3
"""Runs the Python and C++ clients' examples against a real jambad. resume_document (demo
model): a document ingested by one process is resumed by another after a server restart, across
languages (Python ingests, C++ resumes, and the other way round); the resumed question must
restore the whole document. tool_call (the reasoning-3b demo model): the model calls the weather
tool, the example sends the result back, and generation goes on from a longer prompt.

Usage: examples_test.py --build-dir BUILD_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(SOURCE_DIR / "clients" / "conformance"))
from jambad_server import JambadServer  # noqa: E402

API_KEY = "examples-key-1"
DOCUMENT = SOURCE_DIR / "clients" / "conformance" / "document.txt"
USAGE = re.compile(r"; (\d+) prompt tokens: (\d+) restored, (\d+) computed; (\d+) generated\]")
TURN = re.compile(r"^\[(FINISH_REASON_\w+); (\d+) prompt tokens, (\d+) generated\]$", re.M)
TOOL_CALL = re.compile(r"^tool call (call_\w+): get_weather (.*)$", re.M)


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


def example(language: str, build_dir: Path, name: str = "resume_document") -> list[str]:
    if language == "python":
        return [
            str(SOURCE_DIR / "clients" / "python" / "python.sh"),
            str(SOURCE_DIR / "clients" / "python" / "examples" / f"{name}.py"),
        ]
    return [str(build_dir / "clients" / "cpp" / f"jamba_client_{name}")]


def run(command: list[str], build_dir: Path) -> str:
    env = dict(os.environ, JAMBA_BUILD_DIR=str(build_dir))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    print(f"$ {' '.join(command[-12:])}\n{result.stdout}{result.stderr[-2000:]}", flush=True)
    if result.returncode != 0:
        raise AssertionError(f"exit status {result.returncode}")
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, required=True)
    build_dir = parser.parse_args().build_dir.resolve()
    failures = 0
    jambad = build_dir / "service" / "jambad"
    model = build_dir / "demo-model"
    keys = {"examples": API_KEY}
    with tempfile.TemporaryDirectory(prefix="jamba-examples-") as sessions:
        for ingest, resume in (("python", "cpp"), ("cpp", "python")):
            session = f"{ingest}-then-{resume}"
            try:
                # Ingest, stop the server, and resume from a new server on the same directory.
                with JambadServer(jambad, model, keys, session_dir=Path(sessions)) as server:
                    out = run(
                        example(ingest, build_dir)
                        + ["--step", "ingest", "--session", session, "--document", str(DOCUMENT)]
                        + ["--server", server.address, "--api-key", API_KEY],
                        build_dir,
                    )
                found = re.search(r"ingested sessions/\S+: (\d+) tokens", out)
                if found is None:
                    raise AssertionError("the ingest step printed no token count")
                ingested = int(found.group(1))
                with JambadServer(jambad, model, keys, session_dir=Path(sessions)) as server:
                    out = run(
                        example(resume, build_dir)
                        + ["--step", "resume", "--session", session, "--question", "Why?"]
                        + ["--server", server.address, "--api-key", API_KEY],
                        build_dir,
                    )
                usage = USAGE.search(out)
                if usage is None:
                    raise AssertionError("the resume step printed no usage")
                prompt, restored, computed, generated = map(int, usage.groups())
                if restored < ingested or prompt != restored + computed or generated < 1:
                    raise AssertionError(
                        f"resumed usage {prompt}/{restored}/{computed}/{generated}, "
                        f"document {ingested} tokens"
                    )
                print(f"{ingest} ingest -> restart -> {resume} resume: passed", flush=True)
            except (AssertionError, OSError, RuntimeError, subprocess.TimeoutExpired) as error:
                failures += 1
                print(f"{ingest} ingest -> {resume} resume: FAILED: {error}", flush=True)
        # A tool-call round trip on the reasoning-3b demo model.
        reasoning_model = build_dir / "demo-model-reasoning-3b"
        with JambadServer(jambad, reasoning_model, keys) as server:
            for language in ("python", "cpp"):
                try:
                    out = run(
                        example(language, build_dir, "tool_call")
                        + ["--server", server.address, "--api-key", API_KEY]
                        + ["--tool-choice", "get_weather"],
                        build_dir,
                    )
                    check_tool_call(out)
                    print(f"{language} tool call round trip: passed", flush=True)
                except (AssertionError, OSError, ValueError, subprocess.TimeoutExpired) as error:
                    failures += 1
                    print(f"{language} tool call round trip: FAILED: {error}", flush=True)
    print(f"examples: {4 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
