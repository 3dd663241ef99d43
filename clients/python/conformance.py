#!/usr/bin/env python3
"""The Python client's conformance program: runs clients/conformance/scenario.json against a
live jambad with jamba_client and prints one JSON line per step (see
clients/conformance/README.md).

Usage: conformance.py --server HOST:PORT [--servers NAME=HOST:PORT,...] --scenario FILE
                      --prefix NAME
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

import jamba_client


class Scenario:
    """Runs the steps of one scenario file against its servers."""

    def __init__(self, servers: dict[str, str], scenario_path: Path, prefix: str) -> None:
        self.servers = servers  # "" is the default server
        self.base_dir = scenario_path.parent
        self.scenario = json.loads(scenario_path.read_text(encoding="utf-8"))
        self.prefix = prefix
        self._clients: dict[tuple[str, Optional[str]], jamba_client.Client] = {}
        # What each chat Generate step sent and got back, for the steps that continue it.
        self._chats: dict[str, tuple[Any, jamba_client.GenerateStream]] = {}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def client(self, step: dict[str, Any]) -> jamba_client.Client:
        """A client of the step's server with its API key ("key": a tenant of api_keys;
        "api_key": literal)."""
        if "api_key" in step:
            key: Optional[str] = step["api_key"]
        elif "key" in step:
            key = self.scenario["api_keys"][step["key"]]
        else:
            key = None
        server = step.get("server", "")
        if (server, key) not in self._clients:
            self._clients[server, key] = jamba_client.Client(self.servers[server], api_key=key)
        return self._clients[server, key]

    def restart(self, server: str) -> None:
        """Asks the runner to restart a server and waits for its new address."""
        for name, key in [k for k in self._clients if k[0] == server]:
            self._clients.pop((name, key)).close()
        print(json.dumps({"control": "restart", "server": server}), flush=True)
        reply = sys.stdin.readline().strip()
        name, _, address = reply.partition("=")
        if name != server or not address:
            raise RuntimeError(f"the runner did not restart {server!r}: {reply!r}")
        self.servers[server] = address

    def expand(self, value: str) -> str:
        return value.replace("{prefix}", self.prefix)

    def unexpand(self, session_id: str) -> str:
        """A session id with this client's prefix written back as {prefix}."""
        if session_id.startswith(self.prefix):
            return "{prefix}" + session_id[len(self.prefix) :]
        return session_id

    def session_values(self, session: Any) -> dict[str, Any]:
        return {
            "session_name": "sessions/" + self.unexpand(jamba_client.session_id(session)),
            "token_count": session.token_count,
        }

    def run(self, step: dict[str, Any]) -> dict[str, Any]:
        """Runs one step: its code and the values it can record."""
        call = step["call"]
        if call == "RestartServer":
            self.restart(step["server"])
            return {}
        client = self.client(step)
        session = self.expand(step.get("session_id", ""))
        if call == "CreateSession":
            return self.session_values(client.create_session(session))
        if call == "GetSession":
            return self.session_values(client.get_session(session))
        if call == "DeleteSession":
            client.delete_session(session)
            return {}
        if call == "AppendToSession":
            path = self.base_dir / step["text_file"]
            result = client.append_file(
                session, path, chunk_bytes=step["chunk_bytes"], on_progress=lambda _: None
            )
            return self.session_values(result)
        if call == "ForkSession":
            fork = client.fork_session(session, session_id=self.expand(step["new_session_id"]))
            return self.session_values(fork)
        if call == "ListCheckpoints":
            pages = list(client.list_checkpoint_pages(session))
            return {
                "positions": [c.token_count for page in pages for c in page.checkpoints],
                "pages": len(pages),
            }
        if call == "RewindSession":
            checkpoints = list(client.list_checkpoints(session))
            index = len(checkpoints) - 1 - step["checkpoint_from_end"]
            if not 0 <= index < len(checkpoints):
                raise IndexError(f"no checkpoint {step['checkpoint_from_end']} before the last")
            return self.session_values(client.rewind_session(session, checkpoints[index]))
        if call == "ListSessions":
            wanted = self.expand(step.get("session_id_prefix", ""))
            pages = list(client.list_session_pages(page_size=step.get("page_size", 0)))
            ids = [jamba_client.session_id(s) for page in pages for s in page.sessions]
            return {
                "session_ids": [self.unexpand(i) for i in ids if i.startswith(wanted)],
                "pages": len(pages),
            }
        if call == "Generate":
            return self.generate(client, step, session)
        raise ValueError(f"unknown call {call!r}")

    def generate(
        self, client: jamba_client.Client, step: dict[str, Any], session: str
    ) -> dict[str, Any]:
        temperature = step.get("temperature")
        top_p = step.get("top_p")
        common: dict[str, Any] = {
            "max_tokens": step.get("max_tokens"),
            "temperature": float(temperature) if temperature is not None else None,
            "top_p": float(top_p) if top_p is not None else None,
            "seed": step.get("seed"),
        }
        conversation = self.conversation(step)
        if conversation is not None:
            common["messages"] = conversation.messages
            common["tools"] = conversation.tools
            common["documents"] = conversation.documents
            common["template_variables"] = conversation.template_variables or None
        if "tool_choice" in step:
            choice = step["tool_choice"]
            mode = choice["mode"].lower()
            common["tool_choice"] = (
                jamba_client.function_choice(choice["function"]) if mode == "function" else mode
            )
        if "session_id" in step:
            stream = client.generate(
                session=session, text=step.get("text"), commit=step.get("commit", False), **common
            )
        elif conversation is not None:
            stream = client.generate(**common)
        else:
            stream = client.generate(step["prompt"], **common)
        stream.collect()
        if conversation is not None:
            self._chats[step["name"]] = (conversation, stream)
        usage = stream.usage
        values = {
            "token_ids": list(stream.token_ids),
            "finish_reason": stream.finish_reason_name,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "restored_tokens": usage.restored_tokens,
                "recomputed_tokens": usage.recomputed_tokens,
                "completion_tokens": usage.completion_tokens,
            },
            "text": stream.text,
            "reasoning": stream.reasoning,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in stream.tool_calls
            ],
            "malformed_tool_call": stream.malformed_tool_call,
        }
        if stream.session is not None:
            values["session_token_count"] = stream.session.token_count
        return values

    def conversation(self, step: dict[str, Any]) -> Optional[Any]:
        """The step's chat (ChatMessages), or None: the history of an earlier step with its
        reply ("history_from"), the step's own messages, tools, documents and template
        variables, then a result for each tool call of an earlier step's reply
        ("tool_results")."""
        keys = ("history_from", "messages", "tools", "documents", "template_variables")
        if not any(k in step for k in keys + ("tool_results",)):
            return None
        messages: list[Any] = []
        tools, documents, variables = [], [], ""
        if "history_from" in step:
            earlier, reply = self._chats[step["history_from"]]
            messages = list(earlier.messages) + [reply.message()]
            tools, documents = list(earlier.tools), list(earlier.documents)
            variables = earlier.template_variables
        messages += [jamba_client.chat_message(m) for m in step.get("messages", [])]
        if "tool_results" in step:
            results = step["tool_results"]
            _, reply = self._chats[results["for"]]
            if len(reply.tool_calls) != len(results["contents"]):
                raise ValueError(
                    f"{results['for']} made {len(reply.tool_calls)} tool calls, "
                    f"the step has {len(results['contents'])} results"
                )
            messages += [
                jamba_client.tool_result(call, content)
                for call, content in zip(reply.tool_calls, results["contents"])
            ]
        return jamba_client.chat_messages(
            messages,
            tools=step.get("tools", tools),
            documents=step.get("documents", documents),
            template_variables=step.get("template_variables", variables) or None,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description="jamba client conformance (Python)")
    parser.add_argument("--server", required=True, help="HOST:PORT of a plaintext jambad")
    parser.add_argument(
        "--servers", default="", help="NAME=HOST:PORT,... of the scenario's other servers"
    )
    parser.add_argument("--scenario", required=True, type=Path)
    parser.add_argument("--prefix", required=True, help="replaces {prefix} in session ids")
    args = parser.parse_args()

    servers = {"": args.server}
    for entry in filter(None, args.servers.split(",")):
        name, _, address = entry.partition("=")
        if not name or not address:
            parser.error(f"--servers: {entry!r} is not NAME=HOST:PORT")
        servers[name] = address
    scenario = Scenario(servers, args.scenario, args.prefix)
    try:
        for step in scenario.scenario["steps"]:
            try:
                values = scenario.run(step)
                code = "OK"
            except jamba_client.JambaError as error:
                code, values = error.code.name, {}
                print(f"{step['name']}: {error} (reason {error.reason})", file=sys.stderr)
            except Exception:  # a client-side failure: recorded, and the run goes on
                code, values = "CLIENT_ERROR", {}
                print(f"{step['name']}: {traceback.format_exc()}", file=sys.stderr)
            recorded = {k: values[k] for k in step.get("record", []) if k in values}
            print(json.dumps({"step": step["name"], "code": code, "values": recorded}), flush=True)
    finally:
        scenario.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
