"""jamba_client: the Python client of jambad, the gRPC service of libjamba.

    import jamba_client

    with jamba_client.Client("127.0.0.1:50051", api_key="...") as client:
        for chunk in client.generate("Once upon a time", max_tokens=32):
            print(chunk.text, end="")

        # A chat with a tool the model may call; reasoning and tool calls come apart.
        weather = jamba_client.tool("get_weather", "The weather in a city",
                                    {"type": "object", "properties": {"city": {"type": "string"}}})
        reply = client.generate(messages=[jamba_client.user("Weather in Oslo?")],
                                tools=[weather]).collect()
        print(reply.reasoning, reply.text, reply.tool_calls)

The generated stubs (packages jamba.v1 and google.rpc) come from generate_stubs.py; see
README.md.
"""

try:
    from jamba.v1 import generation_pb2 as _generation_pb2  # noqa: F401
except ImportError as _error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "jamba_client needs the generated jamba.v1 stubs: pip install the package, or run "
        "clients/python/generate_stubs.py and put its output folder on PYTHONPATH"
    ) from _error

from .chat import (
    assistant,
    chat_message,
    chat_messages,
    document,
    function_choice,
    system,
    tool,
    tool_call,
    tool_choice,
    tool_result,
    user,
)
from .client import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MAX_RETRIES,
    SESSION_METADATA_KEY,
    Client,
    GenerateStream,
    checkpoint_name,
    session_id,
    session_name,
    utf8_chunks,
)
from .errors import (
    AbortedError,
    AlreadyExistsError,
    CancelledError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    JambaError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownError,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_MAX_RETRIES",
    "SESSION_METADATA_KEY",
    "AbortedError",
    "AlreadyExistsError",
    "CancelledError",
    "Client",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "GenerateStream",
    "InternalError",
    "InvalidArgumentError",
    "JambaError",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "assistant",
    "chat_message",
    "chat_messages",
    "checkpoint_name",
    "document",
    "function_choice",
    "session_id",
    "session_name",
    "system",
    "tool",
    "tool_call",
    "tool_choice",
    "tool_result",
    "user",
    "utf8_chunks",
]
