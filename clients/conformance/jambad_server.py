"""Starts a real jambad for client tests: loopback port 0, a temporary session directory, an
empty config file and an API key file made with `jambad hash-key`; the bound port comes from
the "listening" JSON line jambad prints on stdout. Standard library only.

    with JambadServer(jambad, model_dir, {"main": "key-1"}) as server:
        run_client("--server", server.address)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional


def write_api_key_file(jambad: Path, keys: dict[str, str], path: Path) -> None:
    """Writes one `jambad hash-key TENANT KEY` line per tenant."""
    lines = []
    for tenant, key in keys.items():
        result = subprocess.run(
            [str(jambad), "hash-key", tenant, key], check=True, capture_output=True, text=True
        )
        lines.append(result.stdout.strip())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class JambadServer:
    """One jambad process, stopped (SIGTERM, then SIGKILL) when the context exits."""

    def __init__(
        self,
        jambad: Path,
        model_dir: Path,
        api_keys: dict[str, str],
        *,
        extra_flags: tuple[str, ...] = (),
        session_dir: Optional[Path] = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.jambad = Path(jambad)
        self.model_dir = Path(model_dir)
        self.api_keys = api_keys
        self.extra_flags = extra_flags
        self.session_dir = session_dir  # None: a new one inside the temporary directory
        self.start_timeout = start_timeout
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._process: Optional[subprocess.Popen[bytes]] = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dir(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name)

    def log(self) -> str:
        """jambad's stderr (JSON-lines log) so far."""
        path = self.dir / "stderr"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __enter__(self) -> JambadServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if not os.access(self.jambad, os.X_OK):
            raise FileNotFoundError(f"no jambad binary at {self.jambad}")
        if not (self.model_dir / "config.json").exists():
            raise FileNotFoundError(f"no model at {self.model_dir} (build the demo_model target)")
        self._tmp = tempfile.TemporaryDirectory(prefix="jamba-clients-")
        config = self.dir / "jambad.conf"
        config.write_text("# empty: run-conformance passes flags\n", encoding="utf-8")
        args = [
            str(self.jambad),
            "--config", str(config),
            "--model", str(self.model_dir),
            "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0",
            "--session-dir", str(self.session_dir or self.dir / "sessions"),
            "--threads", "2",
            "--drain-timeout", "10s",
        ]  # fmt: skip
        if self.api_keys:
            keys = self.dir / "api-keys"
            write_api_key_file(self.jambad, self.api_keys, keys)
            args += ["--api-key-file", str(keys)]
        args += list(self.extra_flags)
        out_path = self.dir / "stdout"
        with open(out_path, "wb") as out, open(self.dir / "stderr", "wb") as err:
            self._process = subprocess.Popen(
                args, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        give_up = time.monotonic() + self.start_timeout
        while time.monotonic() < give_up:
            for line in out_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and event.get("event") == "listening":
                    self.port = int(event["port"])
                    return
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"jambad exited with status {self._process.returncode} before listening:\n"
                    + self.log()
                )
            time.sleep(0.05)
        self.stop()
        raise TimeoutError("jambad did not start listening:\n" + self.log())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
