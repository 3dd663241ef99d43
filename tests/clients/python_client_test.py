"""Unit tests of the Python client (jamba_client) against an in-process fake jambad: TLS and
mutual TLS connections, the API key header, errors mapped to JambaError subclasses with their
google.rpc details, paging, chunked appends with progress, generation streams with reasoning and
tool calls, the chat builders, the x-jamba-session routing metadata, and retries of calls the
server refused (UNAVAILABLE with RetryInfo); and, against a real draining jambad, the retries and
their bound.

Run by CTest as `clients/python/python.sh -m unittest python_client_test` (which puts the
generated stubs and jamba_client on the path).
"""

from __future__ import annotations

import collections
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent import futures
from pathlib import Path
from typing import Any, Iterator, Optional

import grpc
from google.protobuf import any_pb2, duration_pb2, empty_pb2
from google.rpc import error_details_pb2, status_pb2

import jamba_client
from jamba.v1 import (
    generation_pb2,
    generation_service_pb2,
    generation_service_pb2_grpc,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
)

API_KEY = "test-key-1"
SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
RETRY_DELAY = 0.05  # seconds, the fake server's RetryInfo


class RichStatus(
    collections.namedtuple("RichStatus", ("code", "details", "trailing_metadata")), grpc.Status
):
    """A grpc.Status with a google.rpc.Status in the grpc-status-details-bin trailer."""


def abort(
    context: grpc.ServicerContext, code: grpc.StatusCode, message: str, *details: Any
) -> None:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    trailer = (("grpc-status-details-bin", status.SerializeToString()),)
    context.abort_with_status(RichStatus(code, message, trailer))


def check_key(context: grpc.ServicerContext) -> None:
    metadata = dict(context.invocation_metadata())
    if metadata.get("authorization") != f"Bearer {API_KEY}":
        reason = "API_KEY_MISSING" if "authorization" not in metadata else "API_KEY_INVALID"
        abort(
            context,
            grpc.StatusCode.UNAUTHENTICATED,
            "bad key",
            error_details_pb2.ErrorInfo(reason=reason, domain="jamba.ai"),
        )


class Recorder:
    """What a fake service saw of each call (method and metadata), and the calls it refuses as a
    draining jambad does: UNAVAILABLE with RetryInfo, before doing anything."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.refuse: dict[str, int] = {}  # method -> how many more calls to refuse
        self.refuse_without_retry_info = False
        self.refuse_appends_after_a_chunk = 0  # appends refused once their first chunk is read

    def enter(self, method: str, context: grpc.ServicerContext) -> None:
        self.calls.append((method, dict(context.invocation_metadata())))
        if self.refuse.get(method, 0) > 0:
            self.refuse[method] -= 1
            self.unavailable(context)

    def unavailable(self, context: grpc.ServicerContext) -> None:
        details: list[Any] = [
            error_details_pb2.ErrorInfo(reason="SERVER_UNAVAILABLE", domain="jamba.ai")
        ]
        if not self.refuse_without_retry_info:
            delay = duration_pb2.Duration(nanos=int(RETRY_DELAY * 1e9))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        abort(context, grpc.StatusCode.UNAVAILABLE, "draining", *details)

    def sessions_of(self, method: str) -> list[Optional[str]]:
        """The x-jamba-session of every call of a method."""
        return [md.get("x-jamba-session") for m, md in self.calls if m == method]

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)


def page(items: list[Any], page_size: int, token: str) -> tuple[list[Any], str]:
    """Offset paging with the offset as the token (the real server's tokens are opaque)."""
    start = int(token or 0)
    end = start + (page_size or 100)
    return items[start:end], str(end) if end < len(items) else ""


class FakeSessions(session_service_pb2_grpc.SessionServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.sessions = [session_pb2.Session(name=f"sessions/s{i}") for i in range(5)]
        self.page_sizes: list[int] = []
        self.appended: list[str] = []
        self.config: Optional[session_service_pb2.AppendToSessionConfig] = None

    def CreateSession(self, request: Any, context: grpc.ServicerContext) -> session_pb2.Session:
        check_key(context)
        self.recorder.enter("CreateSession", context)
        if request.session_id == "taken":
            abort(
                context,
                grpc.StatusCode.ALREADY_EXISTS,
                "exists",
                error_details_pb2.ErrorInfo(reason="SESSION_ALREADY_EXISTS", domain="jamba.ai"),
            )
        return session_pb2.Session(
            name=f"sessions/{request.session_id}", display_name=request.session.display_name
        )

    def GetSession(self, request: Any, context: grpc.ServicerContext) -> session_pb2.Session:
        check_key(context)
        self.recorder.enter("GetSession", context)
        abort(
            context,
            grpc.StatusCode.NOT_FOUND,
            "no such session",
            error_details_pb2.ErrorInfo(reason="SESSION_NOT_FOUND", domain="jamba.ai"),
            error_details_pb2.ResourceInfo(
                resource_type="jamba.v1.Session", resource_name=request.name
            ),
        )
        raise AssertionError("unreachable")

    def DeleteSession(self, request: Any, context: grpc.ServicerContext) -> empty_pb2.Empty:
        check_key(context)
        self.recorder.enter("DeleteSession", context)
        if request.etag != "current":
            abort(
                context,
                grpc.StatusCode.ABORTED,
                "etag",
                error_details_pb2.ErrorInfo(reason="ETAG_MISMATCH", domain="jamba.ai"),
            )
        return empty_pb2.Empty()

    def ListSessions(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_key(context)
        self.recorder.enter("ListSessions", context)
        if request.page_size < 0:
            abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "page_size: negative",
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="page_size", description="must not be negative"
                        )
                    ]
                ),
                error_details_pb2.ErrorInfo(reason="INVALID_FIELD", domain="jamba.ai"),
            )
        self.page_sizes.append(request.page_size)
        items, token = page(self.sessions, request.page_size, request.page_token)
        return session_service_pb2.ListSessionsResponse(sessions=items, next_page_token=token)

    def ListCheckpoints(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_key(context)
        self.recorder.enter("ListCheckpoints", context)
        checkpoints = [
            session_pb2.Checkpoint(name=f"{request.parent}/checkpoints/{n}", token_count=n)
            for n in (1, 16, 32)
        ]
        items, token = page(checkpoints, request.page_size, request.page_token)
        return session_service_pb2.ListCheckpointsResponse(
            checkpoints=items, next_page_token=token
        )

    def AppendToSession(self, request_iterator: Iterator[Any], context: Any) -> Iterator[Any]:
        check_key(context)
        self.recorder.enter("AppendToSession", context)
        self.config = None
        self.appended = []
        progress = session_service_pb2.AppendProgress()
        if self.recorder.refuse_appends_after_a_chunk > 0:
            self.recorder.refuse_appends_after_a_chunk -= 1
            next(request_iterator)  # the config
            next(request_iterator)  # a chunk: the client has read some of its content
            self.recorder.unavailable(context)
        for request in request_iterator:
            if self.config is None:
                self.config = request.config
                continue
            self.appended.append(request.text)
            progress.chunks_received += 1
            progress.bytes_received += len(request.text.encode())
            yield session_service_pb2.AppendToSessionResponse(progress=progress)
        session = session_pb2.Session(
            name=self.config.session, token_count=int(progress.bytes_received)
        )
        yield session_service_pb2.AppendToSessionResponse(progress=progress, session=session)

    def RewindSession(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_key(context)
        self.recorder.enter("RewindSession", context)
        position = int(request.checkpoint.rsplit("/", 1)[1])
        return session_pb2.Session(name=request.name, token_count=position)

    def ForkSession(self, request: Any, context: grpc.ServicerContext) -> Any:
        check_key(context)
        self.recorder.enter("ForkSession", context)
        return session_pb2.Session(name=f"sessions/{request.session_id}", token_count=7)


class FakeGeneration(generation_service_pb2_grpc.GenerationServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.requests: list[generation_service_pb2.GenerateRequest] = []

    def Generate(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        check_key(context)
        self.recorder.enter("Generate", context)
        self.requests.append(request)
        if request.WhichOneof("input") == "messages":
            yield from self.chat_reply(request)
            return
        yield generation_service_pb2.GenerateResponse(text="Hel", token_ids=[5, 6])
        if request.prompt == "fail midway":
            abort(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "queue full",
                error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2)),
            )
        if request.prompt == "unavailable midway":
            abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "gone",
                error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=1000)),
            )
        yield generation_service_pb2.GenerateResponse(
            text="lo",
            token_ids=[7],
            finish_reason=generation_pb2.FINISH_REASON_MAX_TOKENS,
            usage=generation_pb2.Usage(
                prompt_tokens=10, restored_tokens=8, recomputed_tokens=2, completion_tokens=3
            ),
            seed=42,
        )


    def chat_reply(self, request: Any) -> Iterator[Any]:
        """A reply as jambad streams one: reasoning first, then a tool call when its markup is
        complete, then the answer; the last response says how it ended."""
        Response = generation_service_pb2.GenerateResponse
        yield Response(reasoning="The user wants ", token_ids=[1, 2])
        yield Response(reasoning="the weather.", token_ids=[3])
        call = generation_pb2.ToolCall(
            id="call_1", name="get_weather", arguments='{"city": "Paris"}'
        )
        yield Response(tool_calls=[call], token_ids=[4, 5, 6])
        yield Response(text="Checking.", token_ids=[7])
        yield Response(
            token_ids=[8],
            finish_reason=generation_pb2.FINISH_REASON_TOOL_CALLS,
            malformed_tool_call=request.messages.messages[-1].content == "malformed",
        )


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (openssl)."""
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    commands = [
        f"openssl req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        f"openssl req {key} -keyout server.key -out server.csr -subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.pem",
        f"openssl req {key} -keyout client.key -out client.csr -subj /CN=client",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile client.ext -out client.pem",
        # A second CA that signed nothing here: trusting it must not verify the server.
        f"openssl req -x509 {key} -keyout other.key -out other.pem -days 2 -subj '/CN=other'",
    ]
    for command in commands:
        subprocess.run(command, shell=True, cwd=directory, check=True, capture_output=True)


class FakeServer:
    """The fake services on 127.0.0.1, plaintext or with server credentials."""

    def __init__(self, credentials: Optional[grpc.ServerCredentials] = None) -> None:
        self.recorder = Recorder()
        self.sessions = FakeSessions(self.recorder)
        self.generation = FakeGeneration(self.recorder)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        session_service_pb2_grpc.add_SessionServiceServicer_to_server(self.sessions, self.server)
        generation_service_pb2_grpc.add_GenerationServiceServicer_to_server(
            self.generation, self.server
        )
        if credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None)


class PlaintextTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.client = jamba_client.Client(self.fake.address, api_key=API_KEY, timeout=10)

    def tearDown(self) -> None:
        self.client.close()
        self.fake.stop()

    def test_api_key_is_sent_and_a_missing_one_is_unauthenticated(self) -> None:
        self.assertEqual(self.client.create_session("doc").name, "sessions/doc")
        with jamba_client.Client(self.fake.address, timeout=10) as anonymous:
            with self.assertRaises(jamba_client.UnauthenticatedError) as caught:
                anonymous.create_session("doc")
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(caught.exception.reason, "API_KEY_MISSING")
        with jamba_client.Client(self.fake.address, api_key="wrong", timeout=10) as wrong:
            with self.assertRaises(jamba_client.UnauthenticatedError) as caught:
                wrong.get_session("doc")
        self.assertEqual(caught.exception.reason, "API_KEY_INVALID")

    def test_errors_keep_the_code_and_decode_the_details(self) -> None:
        with self.assertRaises(jamba_client.NotFoundError) as caught:
            self.client.get_session("missing")
        error = caught.exception
        self.assertIsInstance(error, jamba_client.JambaError)
        self.assertEqual(error.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(error.message, "no such session")
        self.assertEqual(error.reason, "SESSION_NOT_FOUND")
        self.assertEqual(error.error_info.domain, "jamba.ai")
        self.assertEqual(error.resource_info.resource_name, "sessions/missing")
        self.assertEqual(error.resource_info.resource_type, "jamba.v1.Session")

        with self.assertRaises(jamba_client.InvalidArgumentError) as caught:
            list(self.client.list_sessions(page_size=-1))
        self.assertEqual(
            caught.exception.field_violations, [("page_size", "must not be negative")]
        )
        self.assertEqual(caught.exception.reason, "INVALID_FIELD")

        with self.assertRaises(jamba_client.AlreadyExistsError):
            self.client.create_session("taken")
        with self.assertRaises(jamba_client.AbortedError) as caught:
            self.client.delete_session("doc", etag="stale")
        self.assertEqual(caught.exception.reason, "ETAG_MISMATCH")
        self.client.delete_session("doc", etag="current")

    def test_paging_fetches_every_page(self) -> None:
        pages = list(self.client.list_session_pages(page_size=2))
        self.assertEqual(len(pages), 3)
        self.assertEqual(self.fake.sessions.page_sizes, [2, 2, 2])
        names = [s.name for s in self.client.list_sessions(page_size=2)]
        self.assertEqual(names, [f"sessions/s{i}" for i in range(5)])
        self.assertEqual(len(list(self.client.list_session_pages())), 1)  # the default size

        checkpoints = list(self.client.list_checkpoints("doc", page_size=1))
        self.assertEqual([c.token_count for c in checkpoints], [1, 16, 32])
        self.assertEqual(checkpoints[0].name, "sessions/doc/checkpoints/1")
        self.assertEqual(len(list(self.client.list_checkpoint_pages("doc", page_size=2))), 2)

    def test_append_file_streams_utf8_chunks_with_progress(self) -> None:
        text = "Jamba: ünïcödé € 😀 " * 40
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as document:
            document.write(text)
            document.flush()
            progress: list[int] = []
            session = self.client.append_file(
                "doc",
                document.name,
                chunk_bytes=7,
                on_progress=lambda p: progress.append(p.bytes_received),
            )
        size = len(text.encode())
        self.assertEqual(session.name, "sessions/doc")
        self.assertEqual(session.token_count, size)
        self.assertEqual("".join(self.fake.sessions.appended), text)
        self.assertTrue(all(0 < len(c.encode()) <= 7 for c in self.fake.sessions.appended))
        self.assertEqual(progress[-1], size)
        self.assertEqual(self.fake.sessions.config.session, "sessions/doc")

    def test_append_reraises_a_local_failure(self) -> None:
        def chunks() -> Iterator[str]:
            yield "fine"
            raise OSError("disk gone")

        with self.assertRaisesRegex(OSError, "disk gone"):
            self.client.append("doc", chunks())

    def test_utf8_chunks_never_cut_a_character(self) -> None:
        text = "aé€😀" * 100
        for size in (4, 5, 6, 7, 64):
            pieces = list(jamba_client.utf8_chunks(io.BytesIO(text.encode()), size))
            self.assertEqual("".join(pieces), text)
            self.assertTrue(all(len(p.encode()) <= size for p in pieces))

    def test_fork_and_rewind_names(self) -> None:
        fork = self.client.fork_session("doc", session_id="draft")
        self.assertEqual(fork.name, "sessions/draft")
        rewound = self.client.rewind_session("draft", 16)
        self.assertEqual(rewound.token_count, 16)
        checkpoint = session_pb2.Checkpoint(name="sessions/draft/checkpoints/32")
        self.assertEqual(self.client.rewind_session("sessions/draft", checkpoint).token_count, 32)

    def test_generate_is_an_iterator_of_deltas(self) -> None:
        stream = self.client.generate(
            session="doc", text="Q?", commit=True, max_tokens=3, temperature=0, seed=1
        )
        deltas = [delta.text for delta in stream]
        self.assertEqual(deltas, ["Hel", "lo"])
        self.assertEqual(stream.text, "Hello")
        self.assertEqual(stream.token_ids, [5, 6, 7])
        self.assertEqual(stream.finish_reason_name, "FINISH_REASON_MAX_TOKENS")
        self.assertEqual(stream.usage.restored_tokens, 8)
        self.assertEqual(stream.seed, 42)
        request = self.fake.generation.requests[-1]
        self.assertEqual(request.session.session, "sessions/doc")
        self.assertEqual(request.session.text, "Q?")
        self.assertTrue(request.session.commit)
        # temperature=0 is sent (greedy), unlike an unset temperature (the server's default).
        self.assertTrue(request.sampling.HasField("temperature"))
        self.assertFalse(request.sampling.HasField("top_p"))
        self.assertEqual(request.max_tokens, 3)

        self.client.generate("").collect()  # an empty prompt is still a prompt
        self.assertEqual(self.fake.generation.requests[-1].WhichOneof("input"), "prompt")

    def test_generate_raises_the_streams_error(self) -> None:
        stream = self.client.generate("fail midway")
        received = []
        with self.assertRaises(jamba_client.ResourceExhaustedError) as caught:
            for delta in stream:
                received.append(delta.text)
        self.assertEqual(received, ["Hel"])
        self.assertEqual(caught.exception.retry_delay.total_seconds(), 2)
        self.assertEqual(caught.exception.code, grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_generate_checks_its_arguments(self) -> None:
        with self.assertRaises(ValueError):
            self.client.generate("a", session="doc")
        with self.assertRaises(ValueError):
            self.client.generate(text="no session")


class ChatTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.client = jamba_client.Client(self.fake.address, api_key=API_KEY, timeout=10)

    def tearDown(self) -> None:
        self.client.close()
        self.fake.stop()

    def test_a_chat_request_carries_tools_documents_variables_and_the_tool_choice(self) -> None:
        weather = jamba_client.tool(
            "get_weather", "The weather in a city", {"type": "object", "properties": {}}
        )
        report = jamba_client.document(
            "Revenue grew.", title="Q3", metadata={"author": "Finance", "pages": 3}
        )
        self.client.generate(
            messages=[jamba_client.system("Be brief."), {"role": "user", "content": "Paris?"}],
            tools=[weather, {"type": "function", "function": {"name": "get_time"}}],
            documents=[report, "A second document."],
            template_variables={"enable_thinking": False},
            tool_choice=jamba_client.function_choice("get_weather"),
        ).collect()
        request = self.fake.generation.requests[-1]
        chat = request.messages
        self.assertEqual(
            [m.role for m in chat.messages],
            [generation_pb2.ChatMessage.SYSTEM, generation_pb2.ChatMessage.USER],
        )
        self.assertEqual([t.name for t in chat.tools], ["get_weather", "get_time"])
        parameters = json.loads(chat.tools[0].parameters)
        self.assertEqual(parameters, {"type": "object", "properties": {}})
        self.assertEqual(chat.tools[1].parameters, "")  # the server's default, {}
        self.assertEqual(chat.documents[0].title, "Q3")
        self.assertEqual(dict(chat.documents[0].metadata), {"author": "Finance", "pages": "3"})
        self.assertEqual(chat.documents[1].text, "A second document.")
        self.assertEqual(json.loads(chat.template_variables), {"enable_thinking": False})
        self.assertEqual(request.tool_choice.mode, generation_service_pb2.ToolChoice.FUNCTION)
        self.assertEqual(request.tool_choice.function, "get_weather")

        self.client.generate(
            session="agent",
            messages=[jamba_client.user("x")],
            tools=[weather],
            tool_choice="required",
            commit=True,
        ).collect()
        request = self.fake.generation.requests[-1]
        self.assertEqual(request.session.messages.tools[0].name, "get_weather")
        self.assertEqual(request.tool_choice.mode, generation_service_pb2.ToolChoice.REQUIRED)
        self.assertTrue(request.session.commit)

    def test_the_stream_keeps_reasoning_tool_calls_and_answer_apart(self) -> None:
        stream = self.client.generate(messages=[jamba_client.user("Weather in Paris?")])
        deltas = list(stream)
        self.assertEqual(
            [d.reasoning for d in deltas if d.reasoning], ["The user wants ", "the weather."]
        )
        self.assertEqual(stream.reasoning, "The user wants the weather.")
        self.assertEqual(stream.text, "Checking.")
        self.assertEqual([(c.id, c.name) for c in stream.tool_calls], [("call_1", "get_weather")])
        self.assertEqual(json.loads(stream.tool_calls[0].arguments), {"city": "Paris"})
        self.assertEqual(stream.finish_reason_name, "FINISH_REASON_TOOL_CALLS")
        self.assertFalse(stream.malformed_tool_call)
        self.assertEqual(stream.token_ids, [1, 2, 3, 4, 5, 6, 7, 8])

        # The reply goes back as the assistant turn, followed by the tool's result.
        reply = stream.message()
        self.assertEqual(reply.role, generation_pb2.ChatMessage.ASSISTANT)
        self.assertEqual(reply.content, "Checking.")
        self.assertEqual(reply.reasoning, "The user wants the weather.")
        self.assertEqual(reply.tool_calls[0].id, "call_1")
        result = jamba_client.tool_result(stream.tool_calls[0], "22 degrees")
        self.assertEqual(result.role, generation_pb2.ChatMessage.TOOL)
        self.assertEqual((result.tool_call_id, result.name), ("call_1", "get_weather"))
        self.client.generate(messages=[jamba_client.user("Weather?"), reply, result]).collect()
        sent = self.fake.generation.requests[-1].messages.messages
        self.assertEqual(sent[1], reply)
        self.assertEqual(sent[2].tool_call_id, "call_1")

        malformed = self.client.generate(messages=[jamba_client.user("malformed")]).collect()
        self.assertTrue(malformed.malformed_tool_call)

    def test_builders_refuse_bad_input_clearly(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown role 'robot'"):
            jamba_client.chat_message({"role": "robot", "content": "x"})
        with self.assertRaisesRegex(ValueError, "unknown message fields"):
            jamba_client.chat_message({"role": "user", "contents": "x"})
        with self.assertRaisesRegex(ValueError, "unknown tool choice 'requierd'"):
            jamba_client.tool_choice("requierd")
        with self.assertRaisesRegex(ValueError, "must be a JSON object"):
            jamba_client.tool("f", parameters="[1, 2]")
        with self.assertRaisesRegex(ValueError, "not valid JSON"):
            jamba_client.tool("f", parameters="{type: object}")
        with self.assertRaisesRegex(ValueError, "needs a name"):
            jamba_client.tool("")
        with self.assertRaisesRegex(ValueError, "needs the id"):
            jamba_client.tool_result(generation_pb2.ToolCall(name="f"), "x")
        with self.assertRaisesRegex(ValueError, "needs its text"):
            jamba_client.document("")
        with self.assertRaisesRegex(ValueError, "go with messages"):
            self.client.generate("a prompt", tools=[jamba_client.tool("f")])
        call = jamba_client.tool_call(
            {"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}
        )
        self.assertEqual((call.id, call.name, json.loads(call.arguments)), ("c", "f", {"a": 1}))


class RoutingAndRetryTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.recorder = self.fake.recorder
        self.client = jamba_client.Client(self.fake.address, api_key=API_KEY, timeout=10)

    def tearDown(self) -> None:
        self.client.close()
        self.fake.stop()

    def test_session_calls_name_their_session_in_the_metadata(self) -> None:
        client = self.client
        client.create_session("doc")
        client.create_session()  # the server picks the id: nothing to route by
        client.delete_session("doc", etag="current")
        with self.assertRaises(jamba_client.NotFoundError):
            client.get_session("sessions/doc")
        list(client.list_checkpoints("doc", page_size=2))
        client.fork_session("doc", session_id="draft")
        client.rewind_session("draft", 16)
        client.append_text("doc", "some text", chunk_bytes=4)
        client.generate(session="doc", text="Q?").collect()
        client.generate("stateless").collect()
        list(client.list_sessions())
        self.assertEqual(self.recorder.sessions_of("CreateSession"), ["sessions/doc", None])
        for method in ("DeleteSession", "GetSession", "AppendToSession"):
            self.assertEqual(self.recorder.sessions_of(method), ["sessions/doc"], method)
        self.assertEqual(self.recorder.sessions_of("ListCheckpoints"), ["sessions/doc"] * 2)
        self.assertEqual(self.recorder.sessions_of("ForkSession"), ["sessions/doc"])
        self.assertEqual(self.recorder.sessions_of("RewindSession"), ["sessions/draft"])
        self.assertEqual(self.recorder.sessions_of("Generate"), ["sessions/doc", None])
        self.assertEqual(self.recorder.sessions_of("ListSessions"), [None])

    def test_a_refused_call_is_retried_after_the_delay(self) -> None:
        self.recorder.refuse["ForkSession"] = 2
        started = time.monotonic()
        fork = self.client.fork_session("doc", session_id="draft")
        self.assertEqual(fork.name, "sessions/draft")
        self.assertEqual(self.recorder.count("ForkSession"), 3)
        self.assertGreaterEqual(time.monotonic() - started, 2 * RETRY_DELAY)

    def test_retries_are_bounded(self) -> None:
        self.recorder.refuse["GetSession"] = 10
        with self.assertRaises(jamba_client.UnavailableError) as caught:
            self.client.get_session("doc")
        self.assertEqual(caught.exception.reason, "SERVER_UNAVAILABLE")
        self.assertEqual(self.recorder.count("GetSession"), 1 + jamba_client.DEFAULT_MAX_RETRIES)
        with jamba_client.Client(self.fake.address, api_key=API_KEY, max_retries=0) as once:
            with self.assertRaises(jamba_client.UnavailableError):
                once.get_session("doc")
        self.assertEqual(self.recorder.count("GetSession"), 2 + jamba_client.DEFAULT_MAX_RETRIES)
        with self.assertRaises(ValueError):
            jamba_client.Client(self.fake.address, max_retries=-1)

    def test_only_unavailable_with_retry_info_is_retried(self) -> None:
        self.recorder.refuse["GetSession"] = 2
        self.recorder.refuse_without_retry_info = True  # e.g. a proxy's or the transport's
        with self.assertRaises(jamba_client.UnavailableError):
            self.client.get_session("doc")
        self.assertEqual(self.recorder.count("GetSession"), 1)
        with self.assertRaises(jamba_client.ResourceExhaustedError):  # RetryInfo, other code
            self.client.generate("fail midway").collect()
        self.assertEqual(self.recorder.count("Generate"), 1)

    def test_no_retry_past_the_deadline(self) -> None:
        self.recorder.refuse["GetSession"] = 1
        with self.assertRaises(jamba_client.UnavailableError):
            self.client.get_session("doc", timeout=RETRY_DELAY / 2)
        self.assertEqual(self.recorder.count("GetSession"), 1)

    def test_a_generation_is_retried_only_before_its_first_response(self) -> None:
        self.recorder.refuse["Generate"] = 2
        stream = self.client.generate(session="doc", text="Q?", commit=True)
        self.assertEqual(stream.collect().text, "Hello")
        self.assertEqual(self.recorder.count("Generate"), 3)
        with self.assertRaises(jamba_client.UnavailableError):
            self.client.generate("unavailable midway").collect()
        self.assertEqual(self.recorder.count("Generate"), 4)

    def test_a_refused_append_is_sent_again_from_the_start(self) -> None:
        text = "ünïcödé text " * 20
        self.recorder.refuse["AppendToSession"] = 2
        session = self.client.append_text("doc", text, chunk_bytes=16)
        self.assertEqual(session.token_count, len(text.encode()))
        self.assertEqual("".join(self.fake.sessions.appended), text)
        self.assertEqual(self.recorder.count("AppendToSession"), 3)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as document:
            document.write(text)
            document.flush()
            self.recorder.refuse["AppendToSession"] = 1
            self.client.append_file("doc", document.name, chunk_bytes=16)
        self.assertEqual("".join(self.fake.sessions.appended), text)
        self.recorder.refuse["AppendToSession"] = 1
        self.client.append("doc", ["a", [1, 2], "b"])  # a list: replayable
        self.assertEqual(self.fake.sessions.appended, ["a", "", "b"])

    def test_an_append_is_replayed_only_if_its_content_can_be(self) -> None:
        # Refused once a chunk was read: a list is sent again whole, a one-shot iterator not.
        self.recorder.refuse_appends_after_a_chunk = 1
        self.client.append("doc", ["one", "two"])
        self.assertEqual(self.fake.sessions.appended, ["one", "two"])
        self.assertEqual(self.recorder.count("AppendToSession"), 2)
        self.recorder.refuse_appends_after_a_chunk = 1
        with self.assertRaises(jamba_client.UnavailableError):
            self.client.append("doc", iter(["one", "two"]))
        self.assertEqual(self.recorder.count("AppendToSession"), 3)


@unittest.skipUnless(os.environ.get("JAMBA_BUILD_DIR"), "needs the build's jambad")
class DrainingJambadTest(unittest.TestCase):
    """Against a real jambad that drains: new calls are refused with UNAVAILABLE and RetryInfo,
    which the client retries max_retries times, retry_delay apart."""

    def test_calls_refused_while_draining_are_retried_then_reported(self) -> None:
        sys.path.insert(0, str(SOURCE_DIR / "clients" / "conformance"))
        from jambad_server import JambadServer

        build = Path(os.environ["JAMBA_BUILD_DIR"])
        flags = ("--retry-delay", "200ms", "--drain-timeout", "30s")
        with JambadServer(
            build / "service" / "jambad", build / "demo-model", {"t": API_KEY}, extra_flags=flags
        ) as server:
            client = jamba_client.Client(
                server.address, api_key=API_KEY, max_retries=2, timeout=20
            )
            self.addCleanup(client.close)
            client.create_session("held")
            # An append held open (its stream accepted, never half-closed) keeps the draining
            # server up.
            channel = grpc.insecure_channel(server.address)
            self.addCleanup(channel.close)
            release = threading.Event()
            self.addCleanup(release.set)
            config = session_service_pb2.AppendToSessionConfig(session="sessions/held")

            def requests() -> Iterator[Any]:
                yield session_service_pb2.AppendToSessionRequest(config=config)
                yield session_service_pb2.AppendToSessionRequest(text="held open")
                release.wait(30)

            held = session_service_pb2_grpc.SessionServiceStub(channel).AppendToSession(
                requests(), metadata=(("authorization", f"Bearer {API_KEY}"),)
            )
            held.initial_metadata()  # the server accepted the stream
            assert server._process is not None
            server._process.send_signal(signal.SIGTERM)
            while '"event":"draining"' not in server.log():
                time.sleep(0.01)
            started = time.monotonic()
            with self.assertRaises(jamba_client.UnavailableError) as caught:
                client.get_session("held")
            elapsed = time.monotonic() - started
            release.set()
            for _ in held:
                pass
            self.assertEqual(caught.exception.retry_delay.total_seconds(), 0.2)
            refused = [
                line for line in server.log().splitlines()
                if '"method":"jamba.v1.SessionService/GetSession"' in line
                and '"code":"UNAVAILABLE"' in line
            ]
            self.assertEqual(len(refused), 3)  # the call and its 2 retries
            self.assertGreaterEqual(elapsed, 0.4)


class TlsTest(unittest.TestCase):
    certs: Path
    _tmp: tempfile.TemporaryDirectory[str]

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.certs = Path(cls._tmp.name)
        make_certificates(cls.certs)

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def pem(self, name: str) -> bytes:
        return (self.certs / name).read_bytes()

    def server(self, require_client_cert: bool) -> FakeServer:
        credentials = grpc.ssl_server_credentials(
            [(self.pem("server.key"), self.pem("server.pem"))],
            root_certificates=self.pem("ca.pem") if require_client_cert else None,
            require_client_auth=require_client_cert,
        )
        fake = FakeServer(credentials)
        self.addCleanup(fake.stop)
        return fake

    def test_tls_verifies_the_server(self) -> None:
        fake = self.server(require_client_cert=False)
        # PEM as a path, and as bytes.
        with jamba_client.Client(
            fake.address, api_key=API_KEY, root_certificates=str(self.certs / "ca.pem"), timeout=10
        ) as client:
            self.assertEqual(client.create_session("doc").name, "sessions/doc")
        with jamba_client.Client(
            f"localhost:{fake.port}",
            api_key=API_KEY,
            root_certificates=self.pem("ca.pem"),
            timeout=10,
        ) as client:
            self.assertEqual(client.create_session("doc").name, "sessions/doc")
        # A server certificate from another CA, or a plaintext client, cannot connect.
        with jamba_client.Client(
            fake.address, api_key=API_KEY, root_certificates=self.pem("other.pem"), timeout=10
        ) as client:
            with self.assertRaises(jamba_client.UnavailableError):
                client.create_session("doc")
        with jamba_client.Client(fake.address, api_key=API_KEY, timeout=10) as client:
            with self.assertRaises(jamba_client.UnavailableError):
                client.create_session("doc")

    def test_mutual_tls_needs_the_client_certificate(self) -> None:
        fake = self.server(require_client_cert=True)
        with jamba_client.Client(
            fake.address,
            api_key=API_KEY,
            root_certificates=self.pem("ca.pem"),
            certificate_chain=self.certs / "client.pem",
            private_key=self.certs / "client.key",
            timeout=10,
        ) as client:
            self.assertEqual(client.create_session("doc").name, "sessions/doc")
            stream = client.generate("hi").collect()
            self.assertEqual(stream.text, "Hello")
        with jamba_client.Client(
            fake.address, api_key=API_KEY, root_certificates=self.pem("ca.pem"), timeout=10
        ) as client:
            with self.assertRaises(jamba_client.UnavailableError):
                client.create_session("doc")

    def test_mutual_tls_needs_both_halves(self) -> None:
        with self.assertRaises(ValueError):
            jamba_client.Client("127.0.0.1:1", certificate_chain=self.pem("client.pem"))


class ConcurrencyTest(unittest.TestCase):
    def test_one_client_serves_many_threads(self) -> None:
        fake = FakeServer()
        self.addCleanup(fake.stop)
        with jamba_client.Client(fake.address, api_key=API_KEY, timeout=10) as client:
            results: list[str] = []

            def run() -> None:
                results.append(client.generate("x").collect().text)

            threads = [threading.Thread(target=run) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.assertEqual(results, ["Hello"] * 4)


if __name__ == "__main__":
    unittest.main()
