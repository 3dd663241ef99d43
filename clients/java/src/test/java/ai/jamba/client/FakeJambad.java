// An in-process fake jambad for the client's tests: it records what each call carried (its
// x-jamba-session) and refuses calls as a draining jambad does (UNAVAILABLE with RetryInfo).
package ai.jamba.client;

import ai.jamba.v1.AppendProgress;
import ai.jamba.v1.AppendToSessionRequest;
import ai.jamba.v1.AppendToSessionResponse;
import ai.jamba.v1.CreateSessionRequest;
import ai.jamba.v1.DeleteSessionRequest;
import ai.jamba.v1.FinishReason;
import ai.jamba.v1.ForkSessionRequest;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.GenerateResponse;
import ai.jamba.v1.GenerationServiceGrpc;
import ai.jamba.v1.GetSessionRequest;
import ai.jamba.v1.ListCheckpointsRequest;
import ai.jamba.v1.ListCheckpointsResponse;
import ai.jamba.v1.ListSessionsRequest;
import ai.jamba.v1.ListSessionsResponse;
import ai.jamba.v1.RewindSessionRequest;
import ai.jamba.v1.Session;
import ai.jamba.v1.SessionServiceGrpc;
import ai.jamba.v1.ToolCall;
import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The fake services on 127.0.0.1 (plaintext). */
final class FakeJambad implements AutoCloseable {
  static final long RETRY_DELAY_MILLIS = 50;

  private static final Metadata.Key<String> SESSION =
      Metadata.Key.of(JambaClient.SESSION_METADATA_KEY, Metadata.ASCII_STRING_MARSHALLER);
  private static final Context.Key<String> CALL_SESSION = Context.key("session");

  private final Server server;
  private final Map<String, List<String>> sessions = new HashMap<>();
  private final Map<String, Integer> refuse = new HashMap<>();
  boolean refuseWithoutRetryInfo;
  int refuseAppendsAfterAChunk; // appends refused once a chunk was read
  final List<String> appended = new ArrayList<>();
  volatile GenerateRequest lastGenerateRequest;

  FakeJambad() throws IOException {
    ServerInterceptor sessionHeader =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            String session = headers.containsKey(SESSION) ? headers.get(SESSION) : "(none)";
            return Contexts.interceptCall(
                Context.current().withValue(CALL_SESSION, session), call, headers, next);
          }
        };
    server =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(new Sessions(), sessionHeader))
            .addService(ServerInterceptors.intercept(new Generation(), sessionHeader))
            .build()
            .start();
  }

  String address() {
    return "127.0.0.1:" + server.getPort();
  }

  synchronized void refuse(String method, int times) {
    refuse.put(method, times);
  }

  /** The x-jamba-session of every call of a method ("(none)" when absent). */
  synchronized List<String> sessions(String method) {
    return new ArrayList<>(sessions.getOrDefault(method, List.of()));
  }

  synchronized int count(String method) {
    return sessions(method).size();
  }

  /** Records a call; the refusal to send, or null. */
  private synchronized StatusRuntimeException enter(String method) {
    sessions.computeIfAbsent(method, m -> new ArrayList<>()).add(CALL_SESSION.get());
    int left = refuse.getOrDefault(method, 0);
    if (left > 0) {
      refuse.put(method, left - 1);
      return refusal();
    }
    return null;
  }

  synchronized StatusRuntimeException refusal() {
    com.google.rpc.Status.Builder status =
        com.google.rpc.Status.newBuilder()
            .setCode(io.grpc.Status.Code.UNAVAILABLE.value())
            .setMessage("draining")
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason("SERVER_UNAVAILABLE")
                        .setDomain("jamba.ai")
                        .build()));
    if (!refuseWithoutRetryInfo) {
      status.addDetails(
          Any.pack(
              RetryInfo.newBuilder()
                  .setRetryDelay(
                      com.google.protobuf.Duration.newBuilder()
                          .setNanos((int) (RETRY_DELAY_MILLIS * 1_000_000)))
                  .build()));
    }
    return StatusProto.toStatusRuntimeException(status.build());
  }

  /** Answers a unary call unless it is refused. */
  private <T> void unary(String method, StreamObserver<T> out, T response) {
    StatusRuntimeException refused = enter(method);
    if (refused != null) {
      out.onError(refused);
      return;
    }
    out.onNext(response);
    out.onCompleted();
  }

  private final class Sessions extends SessionServiceGrpc.SessionServiceImplBase {
    @Override
    public void createSession(CreateSessionRequest request, StreamObserver<Session> out) {
      Session created = Session.newBuilder().setName("sessions/" + request.getSessionId()).build();
      unary("CreateSession", out, created);
    }

    @Override
    public void getSession(GetSessionRequest request, StreamObserver<Session> out) {
      unary("GetSession", out, Session.newBuilder().setName(request.getName()).build());
    }

    @Override
    public void deleteSession(DeleteSessionRequest request, StreamObserver<Empty> out) {
      unary("DeleteSession", out, Empty.getDefaultInstance());
    }

    @Override
    public void forkSession(ForkSessionRequest request, StreamObserver<Session> out) {
      Session fork = Session.newBuilder().setName("sessions/" + request.getSessionId()).build();
      unary("ForkSession", out, fork);
    }

    @Override
    public void rewindSession(RewindSessionRequest request, StreamObserver<Session> out) {
      unary("RewindSession", out, Session.newBuilder().setName(request.getName()).build());
    }

    @Override
    public void listCheckpoints(
        ListCheckpointsRequest request, StreamObserver<ListCheckpointsResponse> out) {
      unary("ListCheckpoints", out, ListCheckpointsResponse.getDefaultInstance());
    }

    @Override
    public void listSessions(
        ListSessionsRequest request, StreamObserver<ListSessionsResponse> out) {
      unary("ListSessions", out, ListSessionsResponse.getDefaultInstance());
    }

    @Override
    public StreamObserver<AppendToSessionRequest> appendToSession(
        StreamObserver<AppendToSessionResponse> out) {
      StatusRuntimeException refused = enter("AppendToSession");
      boolean refuseLate;
      synchronized (FakeJambad.this) {
        appended.clear();
        refuseLate = refused == null && refuseAppendsAfterAChunk > 0;
        if (refuseLate) {
          refuseAppendsAfterAChunk--;
        }
      }
      if (refused != null) {
        out.onError(refused);
      }
      return new StreamObserver<>() {
        private String session = "";
        private int bytes;
        private boolean ended = refused != null;

        @Override
        public void onNext(AppendToSessionRequest request) {
          if (ended) {
            return;
          }
          if (request.hasConfig()) {
            session = request.getConfig().getSession();
            return;
          }
          if (refuseLate) { // a chunk was read: the client has taken some of its text
            ended = true;
            out.onError(refusal());
            return;
          }
          synchronized (FakeJambad.this) {
            appended.add(request.getText());
          }
          bytes += request.getText().length();
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          if (ended) {
            return;
          }
          out.onNext(
              AppendToSessionResponse.newBuilder()
                  .setProgress(AppendProgress.newBuilder().setBytesReceived(bytes))
                  .setSession(Session.newBuilder().setName(session).setTokenCount(bytes))
                  .build());
          out.onCompleted();
        }
      };
    }
  }

  private final class Generation extends GenerationServiceGrpc.GenerationServiceImplBase {
    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
      StatusRuntimeException refused = enter("Generate");
      if (refused != null) {
        out.onError(refused);
        return;
      }
      lastGenerateRequest = request;
      if (request.hasMessages()) {
        // A reply as jambad streams one: reasoning, a tool call once complete, the answer.
        out.onNext(GenerateResponse.newBuilder().setReasoning("The user wants ").build());
        out.onNext(GenerateResponse.newBuilder().setReasoning("the weather.").build());
        out.onNext(
            GenerateResponse.newBuilder()
                .addToolCalls(
                    ToolCall.newBuilder()
                        .setId("call_1")
                        .setName("get_weather")
                        .setArguments("{\"city\": \"Paris\"}"))
                .build());
        out.onNext(GenerateResponse.newBuilder().setText("Checking.").build());
        String last =
            request
                .getMessages()
                .getMessages(request.getMessages().getMessagesCount() - 1)
                .getContent();
        out.onNext(
            GenerateResponse.newBuilder()
                .setFinishReason(FinishReason.FINISH_REASON_TOOL_CALLS)
                .setMalformedToolCall(last.equals("malformed"))
                .build());
        out.onCompleted();
        return;
      }
      out.onNext(GenerateResponse.newBuilder().setText("Hel").addTokenIds(5).build());
      if (request.getPrompt().equals("unavailable midway")) {
        out.onError(refusal());
        return;
      }
      out.onNext(
          GenerateResponse.newBuilder()
              .setText("lo")
              .addTokenIds(7)
              .setFinishReason(FinishReason.FINISH_REASON_MAX_TOKENS)
              .build());
      out.onCompleted();
    }
  }

  @Override
  public void close() {
    server.shutdownNow();
  }
}
