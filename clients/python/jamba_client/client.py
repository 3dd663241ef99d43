"""The jamba client: a thin wrapper over the generated jamba.v1 stubs that connects (plaintext,
TLS or mutual TLS) with an API key, manages sessions, streams generation (answer, reasoning and
tool calls) as an iterator, and raises JambaError subclasses that keep the gRPC code and the
google.rpc details.

Routing and retries: every call that acts on a session sends its name as `x-jamba-session`
metadata, so a consistent-hash load balancer keeps a session on one jambad replica. A call that
fails with UNAVAILABLE carrying a RetryInfo (jambad refused it before doing anything: it is
starting, draining or does not own the session) is sent again after RetryInfo.retry_delay, at
most `max_retries` times and never past the call's deadline. A Generate stream is retried only
before its first response, and an append only if its content can be sent again from the start
(a file, a text, or a list of chunks). Other errors are never retried: appends and committing
generations are not idempotent.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, TypeVar, Union

import grpc

from jamba.v1 import (
    generation_pb2,
    generation_service_pb2,
    generation_service_pb2_grpc,
    model_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
)

from . import chat, errors
from .chat import DocumentLike, MessageLike, ToolChoiceLike, ToolLike

# PEM data as bytes, or the path of a PEM file.
PemSource = Union[bytes, str, "os.PathLike[str]", None]
# A session as "doc", "sessions/doc" or a Session message.
SessionRef = Union[str, session_pb2.Session]
# A checkpoint as its full name, its token position, or a Checkpoint message.
CheckpointRef = Union[str, int, session_pb2.Checkpoint]
# One chunk of AppendToSession content.
AppendChunk = Union[str, Sequence[int], generation_pb2.ChatMessage]

DEFAULT_CHUNK_BYTES = 256 * 1024
DEFAULT_MAX_RETRIES = 3
# The metadata key that names the session a call acts on, for load balancers.
SESSION_METADATA_KEY = "x-jamba-session"
_ResponseT = TypeVar("_ResponseT")


def session_name(session: SessionRef) -> str:
    """The resource name `sessions/{id}` of a session given by id, name or message."""
    if isinstance(session, session_pb2.Session):
        return session.name
    return session if session.startswith("sessions/") else f"sessions/{session}"


def session_id(session: SessionRef) -> str:
    """The id of a session given by id, name or message."""
    return session_name(session).removeprefix("sessions/")


def checkpoint_name(session: SessionRef, checkpoint: CheckpointRef) -> str:
    """The name `sessions/{id}/checkpoints/{position}` of a checkpoint."""
    if isinstance(checkpoint, session_pb2.Checkpoint):
        return checkpoint.name
    if isinstance(checkpoint, int):
        return f"{session_name(session)}/checkpoints/{checkpoint}"
    return checkpoint


def utf8_chunks(stream: BinaryIO, chunk_bytes: int) -> Iterator[str]:
    """Reads a binary stream as text chunks of at most chunk_bytes bytes each, cut only between
    UTF-8 characters. Raises UnicodeDecodeError for a stream that is not UTF-8."""
    if chunk_bytes < 4:
        raise ValueError("chunk_bytes must be at least 4 (one UTF-8 character)")
    pending = b""
    while True:
        data = stream.read(chunk_bytes - len(pending))
        buffer = pending + data
        if not buffer:
            return
        cut = len(buffer) if not data else _utf8_boundary(buffer)
        yield buffer[:cut].decode("utf-8")
        pending = buffer[cut:]


def _utf8_boundary(data: bytes) -> int:
    """The length of the longest prefix of data that does not end inside a UTF-8 character."""
    start = len(data) - 1
    while start > 0 and len(data) - start < 4 and (data[start] & 0xC0) == 0x80:
        start -= 1  # back over continuation bytes (10xxxxxx) to the last character's lead
    lead = data[start]
    needed = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    if len(data) - start >= needed or start == 0:
        return len(data)  # complete (or not UTF-8 at all: decoding reports it)
    return start


def _read_pem(source: PemSource) -> Optional[bytes]:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


class _Retry:
    """The retry rule shared by every call: UNAVAILABLE with a RetryInfo (a refusal before any
    work), at most max_retries times, waiting retry_delay, never past the deadline."""

    def __init__(self, max_retries: int, timeout: Optional[float]) -> None:
        self.left = max_retries
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> Optional[float]:
        """The time left for the next attempt (None: no deadline)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def wait(self, error: errors.JambaError) -> bool:
        """Sleeps before the next attempt and returns True if `error` may be retried."""
        delay = error.retry_delay
        if error.code != grpc.StatusCode.UNAVAILABLE or delay is None or self.left <= 0:
            return False
        seconds = delay.total_seconds()
        left = self.remaining()
        if left is not None and seconds >= left:
            return False
        self.left -= 1
        time.sleep(seconds)
        return True


class GenerateStream(Iterator[generation_service_pb2.GenerateResponse]):
    """The responses of one Generate call, as an iterator of deltas.

    Iterating yields every GenerateResponse and raises a JambaError if the call fails. While
    iterating, the stream collects the outcome: `text` (the answer), `reasoning`, `tool_calls`
    (each complete call, as it arrives), `token_ids` and, once the last response has arrived,
    `finish_reason`, `usage`, `seed`, `malformed_tool_call` and (for a committed session input)
    `session`. `collect()` reads the rest of the stream and returns it; `message()` is the reply
    as an assistant message, to send back with the next turn. Leaving a `with` block cancels a
    stream that is still running.
    """

    def __init__(self, start: Callable[[Optional[float]], Any], retry: _Retry) -> None:
        self._start = start
        self._retry = retry
        self._call = start(retry.remaining())
        self._received = False
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self.tool_calls: list[generation_pb2.ToolCall] = []
        self.token_ids: list[int] = []
        self.finish_reason: generation_pb2.FinishReason = generation_pb2.FINISH_REASON_UNSPECIFIED
        self.usage = generation_pb2.Usage()  # all zero until the last response
        self.seed: Optional[int] = None
        self.session: Optional[session_pb2.Session] = None
        self.matched_stop_string = ""
        self.malformed_tool_call = False
        self.done = False

    def __iter__(self) -> GenerateStream:
        return self

    def __next__(self) -> generation_service_pb2.GenerateResponse:
        while True:
            try:
                response = next(self._call)
                break
            except StopIteration:
                self.done = True
                raise
            except grpc.RpcError as rpc_error:
                error = errors.from_rpc_error(rpc_error)
                # Only a refusal before the first response is sent again.
                if not self.done and not self._received and self._retry.wait(error):
                    if not self.done:  # not cancelled while waiting
                        self._call = self._start(self._retry.remaining())
                        continue
                self.done = True
                raise error from rpc_error
        self._received = True
        self._text.append(response.text)
        self._reasoning.append(response.reasoning)
        self.tool_calls.extend(response.tool_calls)
        self.token_ids.extend(response.token_ids)
        if response.finish_reason != generation_pb2.FINISH_REASON_UNSPECIFIED:
            self.finish_reason = response.finish_reason
            self.usage = response.usage
            self.matched_stop_string = response.matched_stop_string
            self.seed = response.seed if response.HasField("seed") else None
            self.malformed_tool_call = response.malformed_tool_call
        if response.HasField("session"):
            self.session = response.session
        return response

    def __enter__(self) -> GenerateStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.done:
            self.cancel()

    @property
    def text(self) -> str:
        """The completion text (for a chat reply: the answer alone) received so far."""
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        """A chat reply's reasoning (its <think> block) received so far."""
        return "".join(self._reasoning)

    @property
    def finish_reason_name(self) -> str:
        """The finish reason's enum name, e.g. "FINISH_REASON_MAX_TOKENS"."""
        return generation_pb2.FinishReason.Name(self.finish_reason)

    def message(self) -> generation_pb2.ChatMessage:
        """The reply as an assistant message (answer, reasoning and tool calls), to add to the
        conversation before the tool results or the next user message."""
        return chat.assistant(self.text, tool_calls=self.tool_calls, reasoning=self.reasoning)

    def cancel(self) -> None:
        """Cancels the call; a committing generation then commits nothing."""
        self._call.cancel()
        self.done = True

    def collect(self) -> GenerateStream:
        """Reads the whole stream (raising a JambaError on failure) and returns self."""
        for _ in self:
            pass
        return self


class Client:
    """A connection to jambad.

    Plaintext (loopback only), TLS or mutual TLS:

        Client("127.0.0.1:50051", api_key=key)
        Client("jamba.internal:50051", api_key=key, root_certificates="ca.pem")
        Client("jamba.internal:50051", api_key=key, root_certificates="ca.pem",
               certificate_chain="client.pem", private_key="client.key")

    PEM arguments are bytes or file paths. `tls=True` without root_certificates uses the system
    roots. `timeout` (seconds) is the default deadline of every call, retries included; each
    method also takes its own. `max_retries` bounds how often a call the server refused before
    doing anything (UNAVAILABLE with RetryInfo) is sent again (0: never). `server_name` verifies
    the server certificate for that name instead of the target's host; `options` are extra gRPC
    channel arguments; `channel` uses a channel of your own (the connection arguments are then
    ignored). Use it as a context manager, or call close().
    """

    def __init__(
        self,
        target: str,
        *,
        api_key: Optional[str] = None,
        tls: Optional[bool] = None,
        root_certificates: PemSource = None,
        certificate_chain: PemSource = None,
        private_key: PemSource = None,
        server_name: Optional[str] = None,
        timeout: Optional[float] = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        options: Sequence[tuple[str, Any]] = (),
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("mutual TLS needs both certificate_chain and private_key")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        channel_options = list(options)
        if server_name:
            channel_options.append(("grpc.ssl_target_name_override", server_name))
        if channel is None:
            if tls is None:  # TLS as soon as any certificate is given
                tls = root_certificates is not None or certificate_chain is not None
            if tls:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_read_pem(root_certificates),
                    private_key=_read_pem(private_key),
                    certificate_chain=_read_pem(certificate_chain),
                )
                channel = grpc.secure_channel(target, credentials, options=channel_options)
            else:
                channel = grpc.insecure_channel(target, options=channel_options)
        self._channel = channel
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {api_key}"),) if api_key else ()
        )
        self._timeout = timeout
        self.max_retries = max_retries
        self._sessions = session_service_pb2_grpc.SessionServiceStub(channel)
        self._generation = generation_service_pb2_grpc.GenerationServiceStub(channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def wait_ready(self, timeout: float) -> None:
        """Waits until the channel is connected; raises UnavailableError after timeout."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise errors.UnavailableError(
                grpc.StatusCode.UNAVAILABLE, "not connected in time"
            ) from error

    def metadata(self, session: Optional[SessionRef] = None) -> tuple[tuple[str, str], ...]:
        """The metadata of a call: the API key, and the session it acts on (x-jamba-session)."""
        if session is None:
            return self._metadata
        return self._metadata + ((SESSION_METADATA_KEY, session_name(session)),)

    def _retry(self, timeout: Optional[float]) -> _Retry:
        return _Retry(self.max_retries, timeout if timeout is not None else self._timeout)

    def _call(
        self,
        method: Callable[..., _ResponseT],
        request: Any,
        timeout: Optional[float],
        session: Optional[SessionRef] = None,
    ) -> _ResponseT:
        retry = self._retry(timeout)
        metadata = self.metadata(session)
        while True:
            try:
                return method(request, metadata=metadata, timeout=retry.remaining())
            except grpc.RpcError as rpc_error:
                error = errors.from_rpc_error(rpc_error)
                if not retry.wait(error):
                    raise error from rpc_error

    # Sessions.

    def create_session(
        self,
        session_id: str = "",
        *,
        display_name: str = "",
        skip_bos: bool = False,
        timeout: Optional[float] = None,
    ) -> session_pb2.Session:
        """Creates an empty session; an empty id lets the server choose one."""
        request = session_service_pb2.CreateSessionRequest(
            session_id=session_id,
            session=session_pb2.Session(display_name=display_name, skip_bos=skip_bos),
        )
        return self._call(
            self._sessions.CreateSession, request, timeout, session=session_id or None
        )

    def get_session(
        self, session: SessionRef, *, timeout: Optional[float] = None
    ) -> session_pb2.Session:
        request = session_service_pb2.GetSessionRequest(name=session_name(session))
        return self._call(self._sessions.GetSession, request, timeout, session=session)

    def delete_session(
        self, session: SessionRef, *, etag: str = "", timeout: Optional[float] = None
    ) -> None:
        request = session_service_pb2.DeleteSessionRequest(name=session_name(session), etag=etag)
        self._call(self._sessions.DeleteSession, request, timeout, session=session)

    def list_session_pages(
        self, *, page_size: int = 0, page_token: str = "", timeout: Optional[float] = None
    ) -> Iterator[session_service_pb2.ListSessionsResponse]:
        """Yields ListSessions pages (newest sessions first), one call per page, until the last."""
        while True:
            request = session_service_pb2.ListSessionsRequest(
                page_size=page_size, page_token=page_token
            )
            page = self._call(self._sessions.ListSessions, request, timeout)
            yield page
            page_token = page.next_page_token
            if not page_token:
                return

    def list_sessions(
        self, *, page_size: int = 0, timeout: Optional[float] = None
    ) -> Iterator[session_pb2.Session]:
        """Yields every session of the tenant, newest first, fetching pages as needed."""
        for page in self.list_session_pages(page_size=page_size, timeout=timeout):
            yield from page.sessions

    def list_checkpoint_pages(
        self,
        session: SessionRef,
        *,
        page_size: int = 0,
        page_token: str = "",
        timeout: Optional[float] = None,
    ) -> Iterator[session_service_pb2.ListCheckpointsResponse]:
        """Yields ListCheckpoints pages (by token position), one call per page."""
        while True:
            request = session_service_pb2.ListCheckpointsRequest(
                parent=session_name(session), page_size=page_size, page_token=page_token
            )
            page = self._call(self._sessions.ListCheckpoints, request, timeout, session=session)
            yield page
            page_token = page.next_page_token
            if not page_token:
                return

    def list_checkpoints(
        self, session: SessionRef, *, page_size: int = 0, timeout: Optional[float] = None
    ) -> Iterator[session_pb2.Checkpoint]:
        """Yields every checkpoint of a session, oldest first."""
        for page in self.list_checkpoint_pages(session, page_size=page_size, timeout=timeout):
            yield from page.checkpoints

    def fork_session(
        self,
        session: SessionRef,
        *,
        session_id: str = "",
        checkpoint: Optional[CheckpointRef] = None,
        timeout: Optional[float] = None,
    ) -> session_pb2.Session:
        """Forks a session at a checkpoint (default: its current end) into a new session. The
        call is routed by the session forked from."""
        request = session_service_pb2.ForkSessionRequest(
            name=session_name(session),
            session_id=session_id,
            checkpoint=checkpoint_name(session, checkpoint) if checkpoint is not None else "",
        )
        return self._call(self._sessions.ForkSession, request, timeout, session=session)

    def rewind_session(
        self,
        session: SessionRef,
        checkpoint: CheckpointRef,
        *,
        etag: str = "",
        timeout: Optional[float] = None,
    ) -> session_pb2.Session:
        """Truncates a session to one of its checkpoints (deleting the later ones)."""
        request = session_service_pb2.RewindSessionRequest(
            name=session_name(session), checkpoint=checkpoint_name(session, checkpoint), etag=etag
        )
        return self._call(self._sessions.RewindSession, request, timeout, session=session)

    def append(
        self,
        session: SessionRef,
        chunks: Union[Iterable[AppendChunk], Callable[[], Iterable[AppendChunk]]],
        *,
        message_role: Optional[generation_pb2.ChatMessage.Role] = None,
        etag: str = "",
        progress_interval_tokens: int = 0,
        on_progress: Optional[Callable[[session_service_pb2.AppendProgress], None]] = None,
        timeout: Optional[float] = None,
    ) -> session_pb2.Session:
        """Streams content chunks (text, token id lists or chat messages) into a session.

        `chunks` is an iterable of chunks, or a function that returns one: a list (or such a
        function) can be sent again from the start, so an append the server refused before
        doing anything (UNAVAILABLE with RetryInfo) is retried; a one-shot iterator is retried
        only if none of it had been read. `on_progress` is called with every AppendProgress the
        server sends. Returns the session once the append is committed. The append is
        all-or-nothing: if this raises, the session is unchanged. An exception raised while
        producing the chunks (e.g. a file that is not UTF-8) cancels the call and is re-raised as
        it is.
        """
        config = session_service_pb2.AppendToSessionConfig(
            session=session_name(session),
            message_role=message_role or generation_pb2.ChatMessage.ROLE_UNSPECIFIED,
            etag=etag,
            progress_interval_tokens=progress_interval_tokens,
        )
        replayable = callable(chunks) or isinstance(chunks, (list, tuple))
        if callable(chunks):
            source: Callable[[], Iterable[AppendChunk]] = chunks
        else:
            content = chunks if replayable else iter(chunks)
            source = lambda: content  # noqa: E731 - a sequence is read again from the start
        retry = self._retry(timeout)
        metadata = self.metadata(session)
        while True:
            attempt = _AppendAttempt(config, source())
            result: Optional[session_pb2.Session] = None
            try:
                for response in self._sessions.AppendToSession(
                    attempt.requests(), metadata=metadata, timeout=retry.remaining()
                ):
                    if on_progress is not None:
                        on_progress(response.progress)
                    if response.HasField("session"):
                        result = response.session
            except grpc.RpcError as rpc_error:
                read_any = attempt.stop()
                if attempt.failure is not None:
                    raise attempt.failure from rpc_error
                error = errors.from_rpc_error(rpc_error)
                if (replayable or not read_any) and retry.wait(error):
                    continue
                raise error from rpc_error
            if result is None:
                raise errors.error_from_status(
                    grpc.StatusCode.UNKNOWN, "the append ended without the updated session"
                )
            return result

    def append_text(
        self,
        session: SessionRef,
        text: str,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        **kwargs: Any,
    ) -> session_pb2.Session:
        """Appends a text in chunks of at most chunk_bytes UTF-8 bytes (see append())."""
        data = text.encode("utf-8")
        return self.append(session, lambda: utf8_chunks(io.BytesIO(data), chunk_bytes), **kwargs)

    def append_file(
        self,
        session: SessionRef,
        path: Union[str, "os.PathLike[str]"],
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        **kwargs: Any,
    ) -> session_pb2.Session:
        """Streams a UTF-8 text file into a session in chunks of at most chunk_bytes bytes, cut
        between characters; `on_progress` can compare progress.bytes_received with the file's
        size (see append()). A retried append reads the file again from the start."""

        def chunks() -> Iterator[str]:
            with open(path, "rb") as stream:
                yield from utf8_chunks(stream, chunk_bytes)

        if chunk_bytes < 4:
            raise ValueError("chunk_bytes must be at least 4 (one UTF-8 character)")
        Path(path).stat()  # a missing file is an error before any call
        return self.append(session, chunks, **kwargs)

    # Generation.

    def generate(
        self,
        prompt: Optional[str] = None,
        *,
        session: Optional[SessionRef] = None,
        text: Optional[str] = None,
        token_ids: Optional[Sequence[int]] = None,
        messages: Optional[Iterable[MessageLike]] = None,
        tools: Optional[Iterable[ToolLike]] = None,
        documents: Optional[Iterable[DocumentLike]] = None,
        template_variables: Union[Mapping[str, Any], str, None] = None,
        tool_choice: Optional[ToolChoiceLike] = None,
        commit: bool = False,
        start_assistant_turn: bool = False,
        etag: str = "",
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: int = 0,
        min_p: float = 0.0,
        repetition_penalty: Optional[float] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        seed: Optional[int] = None,
        stop: Sequence[str] = (),
        stop_token_ids: Sequence[int] = (),
        ignore_eos: bool = False,
        include_logprobs: bool = False,
        top_logprobs: int = 0,
        skip_bos: bool = False,
        timeout: Optional[float] = None,
    ) -> GenerateStream:
        """Starts a generation and returns its stream of deltas.

        Stateless input: `prompt` text, `token_ids` or chat `messages`. From a session: give
        `session`, optionally with new content (`text`, `token_ids` or `messages`) appended
        first, and `commit=True` to append content and completion to the session. With
        messages: `tools` the model may call, `documents` it may use, `template_variables` of the
        chat template (a mapping or JSON object text), and `tool_choice` ("auto", "none",
        "required" or function_choice(NAME)). Unset sampling arguments keep the server's
        defaults.
        """
        request = generation_service_pb2.GenerateRequest(
            include_logprobs=include_logprobs, top_logprobs=top_logprobs, skip_bos=skip_bos
        )
        chat_extras = (tools, documents, template_variables)
        if messages is None and any(x is not None for x in chat_extras):
            raise ValueError("tools, documents and template_variables go with messages")
        conversation = (
            None
            if messages is None
            else chat.chat_messages(
                messages,
                tools=tools or (),
                documents=documents or (),
                template_variables=template_variables,
            )
        )
        if session is not None:
            if prompt is not None:
                raise ValueError("give either a prompt or a session, not both")
            session_input = generation_service_pb2.SessionInput(
                session=session_name(session),
                commit=commit,
                start_assistant_turn=start_assistant_turn,
                etag=etag,
            )
            given = [x for x in (text, token_ids, conversation) if x is not None]
            if len(given) > 1:
                raise ValueError("give at most one of text, token_ids and messages")
            if text is not None:
                session_input.text = text
            elif token_ids is not None:
                session_input.token_ids.ids.extend(token_ids)
            elif conversation is not None:
                session_input.messages.CopyFrom(conversation)
            request.session.CopyFrom(session_input)
        else:
            if text is not None or commit or etag or start_assistant_turn:
                raise ValueError("text, commit, etag and start_assistant_turn need a session")
            inputs = [x for x in (prompt, token_ids, conversation) if x is not None]
            if len(inputs) != 1:
                raise ValueError("give exactly one of prompt, token_ids, messages or session")
            if prompt is not None:
                request.prompt = prompt
            elif token_ids is not None:
                request.prompt_token_ids.ids.extend(token_ids)
            elif conversation is not None:
                request.messages.CopyFrom(conversation)
        if tool_choice is not None:
            request.tool_choice.CopyFrom(chat.tool_choice(tool_choice))
        if max_tokens is not None:
            request.max_tokens = max_tokens
        sampling = request.sampling
        if temperature is not None:
            sampling.temperature = temperature
        if top_p is not None:
            sampling.top_p = top_p
        if repetition_penalty is not None:
            sampling.repetition_penalty = repetition_penalty
        if seed is not None:
            sampling.seed = seed
        sampling.top_k = top_k
        sampling.min_p = min_p
        sampling.presence_penalty = presence_penalty
        sampling.frequency_penalty = frequency_penalty
        request.stop.stop_strings.extend(stop)
        request.stop.stop_token_ids.extend(stop_token_ids)
        request.stop.ignore_eos = ignore_eos
        return self.generate_request(request, timeout=timeout)

    def generate_request(
        self,
        request: generation_service_pb2.GenerateRequest,
        *,
        timeout: Optional[float] = None,
    ) -> GenerateStream:
        """Starts a generation from a GenerateRequest built by the caller."""
        session = request.session.session if request.WhichOneof("input") == "session" else None
        metadata = self.metadata(session or None)

        def start(remaining: Optional[float]) -> Any:
            return self._generation.Generate(request, metadata=metadata, timeout=remaining)

        return GenerateStream(start, self._retry(timeout))

    # Model.

    def get_model_info(self, *, timeout: Optional[float] = None) -> model_pb2.ModelInfo:
        return self._call(
            self._models.GetModelInfo, model_service_pb2.GetModelInfoRequest(), timeout
        )

    def tokenize(
        self,
        text: Optional[str] = None,
        *,
        messages: Optional[Iterable[MessageLike]] = None,
        tools: Iterable[ToolLike] = (),
        documents: Iterable[DocumentLike] = (),
        template_variables: Union[Mapping[str, Any], str, None] = None,
        skip_bos: bool = False,
        timeout: Optional[float] = None,
    ) -> list[int]:
        """The token ids of a text, or of chat messages (with their tools and documents) rendered
        as Generate renders them, ending with the assistant-turn header."""
        if (text is None) == (messages is None):
            raise ValueError("give either a text or messages")
        request = model_service_pb2.TokenizeRequest(skip_bos=skip_bos)
        if text is not None:
            request.text = text
        else:
            request.messages.CopyFrom(
                chat.chat_messages(
                    messages or (),
                    tools=tools,
                    documents=documents,
                    template_variables=template_variables,
                )
            )
        return list(self._call(self._models.Tokenize, request, timeout).token_ids)

    def detokenize(
        self,
        token_ids: Sequence[int],
        *,
        skip_special_tokens: bool = False,
        timeout: Optional[float] = None,
    ) -> str:
        request = model_service_pb2.DetokenizeRequest(
            token_ids=token_ids, skip_special_tokens=skip_special_tokens
        )
        return self._call(self._models.Detokenize, request, timeout).text


class _AppendAttempt:
    """The request stream of one AppendToSession attempt: the config, then the chunks, pulled
    from the source by gRPC's sending thread until stop()."""

    def __init__(
        self, config: session_service_pb2.AppendToSessionConfig, content: Iterable[AppendChunk]
    ) -> None:
        self._config = config
        self._content = content
        self._lock = threading.Lock()
        self._stopped = False
        self._read = False
        self.failure: Optional[BaseException] = None  # raised while producing the chunks

    def requests(self) -> Iterator[session_service_pb2.AppendToSessionRequest]:
        yield session_service_pb2.AppendToSessionRequest(config=self._config)
        chunks = iter(self._content)
        while True:
            with self._lock:
                if self._stopped:
                    return
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                except Exception as error:  # surfaced to the caller by append()
                    self.failure = error
                    raise
                self._read = True
            yield _append_request(chunk)

    def stop(self) -> bool:
        """Stops taking chunks; returns whether any chunk was taken."""
        with self._lock:
            self._stopped = True
            return self._read


def _append_request(chunk: AppendChunk) -> session_service_pb2.AppendToSessionRequest:
    if isinstance(chunk, str):
        return session_service_pb2.AppendToSessionRequest(text=chunk)
    if isinstance(chunk, generation_pb2.ChatMessage):
        return session_service_pb2.AppendToSessionRequest(message=chunk)
    return session_service_pb2.AppendToSessionRequest(
        token_ids=generation_pb2.TokenIds(ids=list(chunk))
    )
