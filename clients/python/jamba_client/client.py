"""The jamba client: a thin wrapper over the generated jamba.v1 stubs that connects (plaintext,
TLS or mutual TLS) with an API key, manages sessions, streams generation as an iterator, and
raises JambaError subclasses that keep the gRPC code and the google.rpc details.

No call is ever retried by this module: appends and committing generations are not idempotent.
"""

from __future__ import annotations

import io
import os
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

from . import errors

# PEM data as bytes, or the path of a PEM file.
PemSource = Union[bytes, str, "os.PathLike[str]", None]
# A session as "doc", "sessions/doc" or a Session message.
SessionRef = Union[str, session_pb2.Session]
# A checkpoint as its full name, its token position, or a Checkpoint message.
CheckpointRef = Union[str, int, session_pb2.Checkpoint]
# A chat message as a ChatMessage or a {"role": "user", "content": "..."} mapping.
MessageLike = Union[generation_pb2.ChatMessage, Mapping[str, str]]
# One chunk of AppendToSession content.
AppendChunk = Union[str, Sequence[int], generation_pb2.ChatMessage]

DEFAULT_CHUNK_BYTES = 256 * 1024
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


def chat_message(message: MessageLike) -> generation_pb2.ChatMessage:
    """A ChatMessage from a message or a {"role": ..., "content": ...} mapping."""
    if isinstance(message, generation_pb2.ChatMessage):
        return message
    role = generation_pb2.ChatMessage.Role.Value(str(message["role"]).upper())
    return generation_pb2.ChatMessage(role=role, content=message.get("content", ""))


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


class GenerateStream(Iterator[generation_service_pb2.GenerateResponse]):
    """The responses of one Generate call, as an iterator of deltas.

    Iterating yields every GenerateResponse and raises a JambaError if the call fails. While
    iterating, the stream collects the outcome: `text`, `token_ids` and, once the last response
    has arrived, `finish_reason`, `usage`, `seed` and (for a committed session input)
    `session`. `collect()` reads the rest of the stream and returns it. Leaving a `with` block
    cancels a stream that is still running.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._text: list[str] = []
        self.token_ids: list[int] = []
        self.finish_reason: generation_pb2.FinishReason = generation_pb2.FINISH_REASON_UNSPECIFIED
        self.usage = generation_pb2.Usage()  # all zero until the last response
        self.seed: Optional[int] = None
        self.session: Optional[session_pb2.Session] = None
        self.matched_stop_string = ""
        self.done = False

    def __iter__(self) -> GenerateStream:
        return self

    def __next__(self) -> generation_service_pb2.GenerateResponse:
        try:
            response = next(self._call)
        except StopIteration:
            self.done = True
            raise
        except grpc.RpcError as error:
            self.done = True
            raise errors.from_rpc_error(error) from error
        self._text.append(response.text)
        self.token_ids.extend(response.token_ids)
        if response.finish_reason != generation_pb2.FINISH_REASON_UNSPECIFIED:
            self.finish_reason = response.finish_reason
            self.usage = response.usage
            self.matched_stop_string = response.matched_stop_string
            self.seed = response.seed if response.HasField("seed") else None
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
        """The completion text received so far."""
        return "".join(self._text)

    @property
    def finish_reason_name(self) -> str:
        """The finish reason's enum name, e.g. "FINISH_REASON_MAX_TOKENS"."""
        return generation_pb2.FinishReason.Name(self.finish_reason)

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
    roots. `timeout` (seconds) is the default deadline of every call; each method also takes
    its own. `server_name` verifies the server certificate for that name instead of the target's
    host; `options` are extra gRPC channel arguments; `channel` uses a channel of your own (the
    connection arguments are then ignored). Use it as a context manager, or call close().
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
        options: Sequence[tuple[str, Any]] = (),
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("mutual TLS needs both certificate_chain and private_key")
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

    def _call(
        self, method: Callable[..., _ResponseT], request: Any, timeout: Optional[float]
    ) -> _ResponseT:
        try:
            return method(request, metadata=self._metadata, timeout=self._deadline(timeout))
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from error

    def _deadline(self, timeout: Optional[float]) -> Optional[float]:
        return timeout if timeout is not None else self._timeout

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
        return self._call(self._sessions.CreateSession, request, timeout)

    def get_session(
        self, session: SessionRef, *, timeout: Optional[float] = None
    ) -> session_pb2.Session:
        request = session_service_pb2.GetSessionRequest(name=session_name(session))
        return self._call(self._sessions.GetSession, request, timeout)

    def delete_session(
        self, session: SessionRef, *, etag: str = "", timeout: Optional[float] = None
    ) -> None:
        request = session_service_pb2.DeleteSessionRequest(name=session_name(session), etag=etag)
        self._call(self._sessions.DeleteSession, request, timeout)

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
            page = self._call(self._sessions.ListCheckpoints, request, timeout)
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
        """Forks a session at a checkpoint (default: its current end) into a new session."""
        request = session_service_pb2.ForkSessionRequest(
            name=session_name(session),
            session_id=session_id,
            checkpoint=checkpoint_name(session, checkpoint) if checkpoint is not None else "",
        )
        return self._call(self._sessions.ForkSession, request, timeout)

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
        return self._call(self._sessions.RewindSession, request, timeout)

    def append(
        self,
        session: SessionRef,
        chunks: Iterable[AppendChunk],
        *,
        message_role: Optional[generation_pb2.ChatMessage.Role] = None,
        etag: str = "",
        progress_interval_tokens: int = 0,
        on_progress: Optional[Callable[[session_service_pb2.AppendProgress], None]] = None,
        timeout: Optional[float] = None,
    ) -> session_pb2.Session:
        """Streams content chunks (text, token id lists or chat messages) into a session.

        `on_progress` is called with every AppendProgress the server sends. Returns the session
        once the append is committed. The append is all-or-nothing: if this raises, the session
        is unchanged. An exception raised while producing the chunks (e.g. a file that is not
        UTF-8) cancels the call and is re-raised as it is.
        """
        config = session_service_pb2.AppendToSessionConfig(
            session=session_name(session),
            message_role=message_role or generation_pb2.ChatMessage.ROLE_UNSPECIFIED,
            etag=etag,
            progress_interval_tokens=progress_interval_tokens,
        )
        failure: list[BaseException] = []

        def requests() -> Iterator[session_service_pb2.AppendToSessionRequest]:
            yield session_service_pb2.AppendToSessionRequest(config=config)
            try:
                for chunk in chunks:
                    yield _append_request(chunk)
            except Exception as error:  # surfaced to the caller below
                failure.append(error)
                raise

        result: Optional[session_pb2.Session] = None
        try:
            for response in self._sessions.AppendToSession(
                requests(), metadata=self._metadata, timeout=self._deadline(timeout)
            ):
                if on_progress is not None:
                    on_progress(response.progress)
                if response.HasField("session"):
                    result = response.session
        except grpc.RpcError as error:
            if failure:
                raise failure[0] from error
            raise errors.from_rpc_error(error) from error
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
        data = io.BytesIO(text.encode("utf-8"))
        return self.append(session, utf8_chunks(data, chunk_bytes), **kwargs)

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
        size (see append())."""
        with open(path, "rb") as stream:
            return self.append(session, utf8_chunks(stream, chunk_bytes), **kwargs)

    # Generation.

    def generate(
        self,
        prompt: Optional[str] = None,
        *,
        session: Optional[SessionRef] = None,
        text: Optional[str] = None,
        token_ids: Optional[Sequence[int]] = None,
        messages: Optional[Sequence[MessageLike]] = None,
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
        first, and `commit=True` to append content and completion to the session. Unset
        sampling arguments keep the server's defaults.
        """
        request = generation_service_pb2.GenerateRequest(
            include_logprobs=include_logprobs, top_logprobs=top_logprobs, skip_bos=skip_bos
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
            _set_content(session_input, text=text, token_ids=token_ids, messages=messages)
            request.session.CopyFrom(session_input)
        else:
            if text is not None or commit or etag or start_assistant_turn:
                raise ValueError("text, commit, etag and start_assistant_turn need a session")
            inputs = [x for x in (prompt, token_ids, messages) if x is not None]
            if len(inputs) != 1:
                raise ValueError("give exactly one of prompt, token_ids, messages or session")
            if prompt is not None:
                request.prompt = prompt
            elif token_ids is not None:
                request.prompt_token_ids.ids.extend(token_ids)
            else:
                request.messages.messages.extend(chat_message(m) for m in messages or ())
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
        call = self._generation.Generate(
            request, metadata=self._metadata, timeout=self._deadline(timeout)
        )
        return GenerateStream(call)

    # Model.

    def get_model_info(self, *, timeout: Optional[float] = None) -> model_pb2.ModelInfo:
        return self._call(
            self._models.GetModelInfo, model_service_pb2.GetModelInfoRequest(), timeout
        )

    def tokenize(
        self, text: str, *, skip_bos: bool = False, timeout: Optional[float] = None
    ) -> list[int]:
        request = model_service_pb2.TokenizeRequest(text=text, skip_bos=skip_bos)
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


def _append_request(chunk: AppendChunk) -> session_service_pb2.AppendToSessionRequest:
    if isinstance(chunk, str):
        return session_service_pb2.AppendToSessionRequest(text=chunk)
    if isinstance(chunk, generation_pb2.ChatMessage):
        return session_service_pb2.AppendToSessionRequest(message=chunk)
    return session_service_pb2.AppendToSessionRequest(
        token_ids=generation_pb2.TokenIds(ids=list(chunk))
    )


def _set_content(
    session_input: generation_service_pb2.SessionInput,
    *,
    text: Optional[str],
    token_ids: Optional[Sequence[int]],
    messages: Optional[Sequence[MessageLike]],
) -> None:
    given = [x for x in (text, token_ids, messages) if x is not None]
    if len(given) > 1:
        raise ValueError("give at most one of text, token_ids and messages")
    if text is not None:
        session_input.text = text
    elif token_ids is not None:
        session_input.token_ids.ids.extend(token_ids)
    elif messages is not None:
        session_input.messages.messages.extend(chat_message(m) for m in messages)
