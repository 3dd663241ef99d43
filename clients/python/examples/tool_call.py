#!/usr/bin/env python3
"""Example: a tool-call round trip. The model is offered a weather tool; when it calls it, the
example runs the tool and sends the result back, and the model answers from it. Reasoning is
printed apart from the answer.

    tool_call.py --server HOST:PORT --api-key KEY [--question "Weather in Oslo?"]
                 [--tool-choice auto|none|required|get_weather]

The served model needs a chat template with tools (ModelInfo.tokenizer.tool_call_format "hermes"
or "jamba", e.g. the `reasoning-3b` demo preset). A model with random weights rarely decides to
call a tool by itself: `--tool-choice get_weather` (or `required`) makes the reply a call.
TLS: --ca FILE; mutual TLS: also --cert FILE --key FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import jamba_client
from jamba_client import function_choice, tool, tool_result, user

WEATHER = tool(
    "get_weather",
    "The current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def get_weather(arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool itself (a stand-in for a real weather service)."""
    return {"city": arguments.get("city", "unknown"), "temperature_c": 22, "conditions": "sunny"}


def reply(client: jamba_client.Client, messages: list[Any], choice: Any) -> Any:
    """One assistant turn, streamed: reasoning as it comes, tool calls once complete."""
    stream = client.generate(
        messages=messages, tools=[WEATHER], tool_choice=choice, max_tokens=64, seed=7
    )
    with stream:
        for delta in stream:
            print(delta.reasoning, end="", file=sys.stderr, flush=True)  # thinking, as it comes
    print(file=sys.stderr)
    print(f"reasoning: {stream.reasoning!r}")
    print(f"answer: {stream.text!r}")
    usage = stream.usage
    print(
        f"[{stream.finish_reason_name}; {usage.prompt_tokens} prompt tokens, "
        f"{usage.completion_tokens} generated]"
    )
    return stream


def main() -> int:
    parser = argparse.ArgumentParser(description="A tool-call round trip with jambad.")
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--api-key")
    parser.add_argument("--question", default="What is the weather in Paris?")
    parser.add_argument(
        "--tool-choice", default="auto", help="auto, none, required, or a tool's name"
    )
    parser.add_argument("--ca", help="CA certificates (PEM) to verify the server: TLS")
    parser.add_argument("--cert", help="client certificate (PEM), for mutual TLS")
    parser.add_argument("--key", help="client private key (PEM), for mutual TLS")
    args = parser.parse_args()
    choice = args.tool_choice
    if choice not in ("auto", "none", "required"):
        choice = function_choice(choice)

    client = jamba_client.Client(
        args.server,
        api_key=args.api_key,
        root_certificates=args.ca,
        certificate_chain=args.cert,
        private_key=args.key,
    )
    try:
        with client:
            tokenizer = client.get_model_info().tokenizer
            print(f"tool calls read as {tokenizer.tool_call_format!r}")
            messages: list[Any] = [user(args.question)]
            first = reply(client, messages, choice)
            if not first.tool_calls:
                return 0  # the model answered without the tool
            messages.append(first.message())  # the assistant turn, with its calls
            for call in first.tool_calls:
                print(f"tool call {call.id}: {call.name} {call.arguments}")
                result = json.dumps(get_weather(json.loads(call.arguments)))
                print(f"tool result: {result}")
                messages.append(tool_result(call, result))
            reply(client, messages, "auto")  # generation continues from the result
    except jamba_client.JambaError as error:
        print(
            f"error: {error.code.name}: {error.message} (reason: {error.reason})", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
