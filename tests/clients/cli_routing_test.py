"""The `jamba` CLI's remote mode names the session each call acts on in `x-jamba-session`
metadata (for consistent-hash load balancers), as the client libraries do: the real binary runs
against the in-process fake jambad of python_client_test, which records the metadata.

Run by CTest as `clients/python/python.sh -m unittest -v cli_routing_test` with JAMBA_BUILD_DIR.
"""

from __future__ import annotations

import os
import subprocess
import unittest
from pathlib import Path

from python_client_test import API_KEY, FakeServer


class CliRoutingTest(unittest.TestCase):
    def setUp(self) -> None:
        self.jamba = Path(os.environ["JAMBA_BUILD_DIR"]) / "tools" / "jamba"
        self.fake = FakeServer()
        self.addCleanup(self.fake.stop)

    def jamba_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.jamba), *args, "--server", self.fake.address, "--api-key", API_KEY]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def test_session_commands_name_their_session(self) -> None:
        ok = [
            ("session", "create", "--id", "doc"),
            ("session", "create"),  # the server picks the id: nothing to route by
            ("session", "append", "--id", "doc", "--text", "some text"),
            ("session", "ask", "--id", "doc", "--text", "Q?", "--quiet"),
            ("session", "fork", "--id", "doc", "--new-id", "draft"),
            ("session", "rewind", "--id", "draft", "--to", "16"),
            ("session", "checkpoints", "--id", "doc"),
            ("session", "list"),
            ("generate", "--prompt", "stateless", "--quiet"),
        ]
        for args in ok:
            result = self.jamba_cli(*args)
            self.assertEqual(result.returncode, 0, f"{args}: {result.stderr}")
        # The fake refuses a delete without the etag "current"; the call still names its session.
        self.assertNotEqual(self.jamba_cli("session", "delete", "--id", "doc").returncode, 0)

        recorder = self.fake.recorder
        self.assertEqual(recorder.sessions_of("CreateSession"), ["sessions/doc", None])
        for method in ("AppendToSession", "ForkSession", "ListCheckpoints", "DeleteSession"):
            self.assertEqual(recorder.sessions_of(method), ["sessions/doc"], method)
        self.assertEqual(recorder.sessions_of("RewindSession"), ["sessions/draft"])
        self.assertEqual(recorder.sessions_of("Generate"), ["sessions/doc", None])
        self.assertEqual(recorder.sessions_of("ListSessions"), [None])


if __name__ == "__main__":
    unittest.main()
