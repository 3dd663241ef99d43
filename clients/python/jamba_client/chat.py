"""Chat building blocks of the jamba client: messages of every role (with tool calls, tool
results and reasoning), tool definitions, documents and the tool choice, as the jamba.v1
messages or from plain dicts in the OpenAI style.

    from jamba_client import user, tool, document, tool_result

    messages = [user("Weather in Paris?")]
    weather = tool("get_weather", "The weather in a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}})
    stream = client.generate(messages=messages, tools=[weather], tool_choice="required")
    stream.collect()
    messages.append(stream.message())                      # the assistant turn, with its calls
    messages += [tool_result(call, "22 degrees") for call in stream.tool_calls]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from jamba.v1 import generation_pb2, generation_service_pb2

ChatMessage = generation_pb2.ChatMessage
ToolCall = generation_pb2.ToolCall
Tool = generation_pb2.Tool
Document = generation_pb2.Document
ToolChoice = generation_service_pb2.ToolChoice

# A chat message as a ChatMessage or a mapping: {"role": "user", "content": "..."}, with
# "tool_calls", "tool_call_id", "name" and "reasoning" where they apply.
MessageLike = Union[ChatMessage, Mapping[str, Any]]
# A tool call as a ToolCall or {"id": ..., "name": ..., "arguments": {...} or "{...}"} (also the
# OpenAI form {"id": ..., "type": "function", "function": {"name": ..., "arguments": ...}}).
ToolCallLike = Union[ToolCall, Mapping[str, Any]]
# A tool as a Tool or {"name": ..., "description": ..., "parameters": {...}} (or the OpenAI form
# {"type": "function", "function": {...}}).
ToolLike = Union[Tool, Mapping[str, Any]]
# A document as a Document, its text alone, or {"text": ..., "title": ..., "metadata": {...}}.
DocumentLike = Union[Document, str, Mapping[str, Any]]
# "auto", "none", "required", {"function": NAME} (or {"type": "function", "function": {"name":
# NAME}}), or a ToolChoice.
ToolChoiceLike = Union[str, ToolChoice, Mapping[str, Any]]

_ROLES = {"system", "user", "assistant", "tool"}
_MODES = {"auto": ToolChoice.AUTO, "none": ToolChoice.NONE, "required": ToolChoice.REQUIRED}


def _json_text(value: Any, what: str) -> str:
    """A JSON object as text: a mapping is serialized, a string is checked and kept as it is."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{what} is not valid JSON: {error}") from error
        if not isinstance(parsed, dict):
            raise ValueError(f"{what} must be a JSON object, got {type(parsed).__name__}")
        return value
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(
        f"{what} must be a mapping or a JSON object as text, not {type(value).__name__}"
    )


def system(content: str) -> ChatMessage:
    """A system message (instructions, by convention the first message)."""
    return ChatMessage(role=ChatMessage.SYSTEM, content=content)


def user(content: str, *, name: str = "") -> ChatMessage:
    """A user message."""
    return ChatMessage(role=ChatMessage.USER, content=content, name=name)


def assistant(
    content: str = "",
    *,
    tool_calls: Iterable[ToolCallLike] = (),
    reasoning: str = "",
) -> ChatMessage:
    """An assistant message: a previous reply's answer, tool calls and reasoning (see
    GenerateStream.message(), which builds it from a reply)."""
    return ChatMessage(
        role=ChatMessage.ASSISTANT,
        content=content,
        tool_calls=[tool_call(c) for c in tool_calls],
        reasoning=reasoning,
    )


def tool_result(
    call: Union[ToolCall, str], content: str, *, name: Optional[str] = None
) -> ChatMessage:
    """The result of a tool call, for the model to read: `call` is the ToolCall it answers (its
    id and name are taken from it) or the call's id."""
    if isinstance(call, ToolCall):
        call_id, call_name = call.id, call.name
    elif isinstance(call, str):
        call_id, call_name = call, ""
    else:
        raise TypeError(f"call must be a ToolCall or a call id, not {type(call).__name__}")
    if not call_id:
        raise ValueError("a tool result needs the id of the call it answers")
    return ChatMessage(
        role=ChatMessage.TOOL,
        content=content,
        tool_call_id=call_id,
        name=call_name if name is None else name,
    )


def tool_call(call: ToolCallLike) -> ToolCall:
    """A ToolCall from a ToolCall or a mapping (arguments as a mapping or JSON object text)."""
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise TypeError(f"a tool call must be a ToolCall or a mapping, not {type(call).__name__}")
    function = call.get("function", call)
    if "name" not in function:
        raise ValueError(f"a tool call needs a name: {dict(call)!r}")
    arguments = function.get("arguments", {})
    return ToolCall(
        id=str(call.get("id", "")),
        name=str(function["name"]),
        arguments=_json_text(arguments, f"the arguments of tool call {function['name']!r}"),
    )


def chat_message(message: MessageLike) -> ChatMessage:
    """A ChatMessage from a message or a mapping with "role" ("system", "user", "assistant" or
    "tool"), "content" and, where they apply, "tool_calls", "tool_call_id", "name" and
    "reasoning"."""
    if isinstance(message, ChatMessage):
        return message
    if not isinstance(message, Mapping):
        raise TypeError(
            f"a message must be a ChatMessage or a mapping, not {type(message).__name__}"
        )
    role = str(message.get("role", "")).lower()
    if role not in _ROLES:
        raise ValueError(f"unknown role {message.get('role')!r}: use one of {sorted(_ROLES)}")
    unknown = set(message) - {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning"}
    if unknown:
        raise ValueError(f"unknown message fields {sorted(unknown)}")
    return ChatMessage(
        role=ChatMessage.Role.Value(role.upper()),
        content=message.get("content") or "",
        tool_calls=[tool_call(c) for c in message.get("tool_calls") or ()],
        tool_call_id=message.get("tool_call_id") or "",
        name=message.get("name") or "",
        reasoning=message.get("reasoning") or "",
    )


def tool(
    name: Union[str, ToolLike],
    description: str = "",
    parameters: Union[Mapping[str, Any], str, None] = None,
) -> Tool:
    """A function the model may call: its name (1 to 64 of [A-Za-z0-9_.-]), what it does, and
    the JSON Schema of its arguments (a mapping, or a JSON object as text). Also takes a Tool or
    a mapping ({"name", "description", "parameters"}, or the OpenAI form with "function")."""
    if isinstance(name, Tool):
        return name
    if isinstance(name, Mapping):
        spec = name.get("function", name)
        unknown = set(spec) - {"name", "description", "parameters"}
        if unknown:
            raise ValueError(f"unknown tool fields {sorted(unknown)}")
        return tool(spec.get("name", ""), spec.get("description", ""), spec.get("parameters"))
    if not name:
        raise ValueError("a tool needs a name")
    schema = (
        "" if parameters is None else _json_text(parameters, f"the parameters of tool {name!r}")
    )
    return Tool(name=name, description=description, parameters=schema)


def document(
    text: Union[str, DocumentLike],
    *,
    title: str = "",
    metadata: Optional[Mapping[str, str]] = None,
) -> Document:
    """A document the model may use: its text, an optional title and more fields (author,
    date, ...) as metadata. Also takes a Document or a mapping ({"text", "title", "metadata"})."""
    if isinstance(text, Document):
        return text
    if isinstance(text, Mapping):
        unknown = set(text) - {"text", "title", "metadata"}
        if unknown:
            raise ValueError(f"unknown document fields {sorted(unknown)}")
        return document(
            text.get("text", ""), title=text.get("title", ""), metadata=text.get("metadata")
        )
    if not isinstance(text, str) or not text:
        raise ValueError("a document needs its text")
    return Document(
        title=title, text=text, metadata={str(k): str(v) for k, v in (metadata or {}).items()}
    )


def function_choice(name: str) -> ToolChoice:
    """A tool choice that makes the reply call the tool `name`."""
    if not name:
        raise ValueError("function_choice needs a tool name")
    return ToolChoice(mode=ToolChoice.FUNCTION, function=name)


def tool_choice(choice: ToolChoiceLike) -> ToolChoice:
    """A ToolChoice from "auto", "none", "required", {"function": NAME} or a ToolChoice."""
    if isinstance(choice, ToolChoice):
        return choice
    if isinstance(choice, str):
        mode = _MODES.get(choice.lower())
        if mode is None:
            raise ValueError(
                f"unknown tool choice {choice!r}: use 'auto', 'none', 'required' or "
                "function_choice(NAME)"
            )
        return ToolChoice(mode=mode)
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping):
            function = function.get("name")
        if not isinstance(function, str):
            raise ValueError(f"a tool choice mapping needs a function name: {dict(choice)!r}")
        return function_choice(function)
    raise TypeError(f"a tool choice must be a string, a mapping or a ToolChoice, not {choice!r}")


def chat_messages(
    messages: Iterable[MessageLike],
    *,
    tools: Iterable[ToolLike] = (),
    documents: Iterable[DocumentLike] = (),
    template_variables: Union[Mapping[str, Any], str, None] = None,
) -> generation_pb2.ChatMessages:
    """The ChatMessages of a request: messages with the tools, documents and extra chat-template
    variables (a mapping such as {"enable_thinking": False}, or a JSON object as text)."""
    result = generation_pb2.ChatMessages(
        messages=[chat_message(m) for m in messages],
        tools=[tool(t) for t in tools],
        documents=[document(d) for d in documents],
    )
    if template_variables is not None:
        result.template_variables = _json_text(template_variables, "template_variables")
    return result
