// The jambad client: channel set-up (TLS, mutual TLS, API key), session methods, streaming
// generation and model information, over the generated ai.jamba.v1 stubs.
package ai.jamba.client;

import ai.jamba.v1.AppendToSessionConfig;
import ai.jamba.v1.AppendToSessionRequest;
import ai.jamba.v1.AppendToSessionResponse;
import ai.jamba.v1.ChatMessage;
import ai.jamba.v1.ChatMessages;
import ai.jamba.v1.Checkpoint;
import ai.jamba.v1.CreateSessionRequest;
import ai.jamba.v1.DeleteSessionRequest;
import ai.jamba.v1.ForkSessionRequest;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.GenerationServiceGrpc;
import ai.jamba.v1.GetModelInfoRequest;
import ai.jamba.v1.GetSessionRequest;
import ai.jamba.v1.ListCheckpointsRequest;
import ai.jamba.v1.ListCheckpointsResponse;
import ai.jamba.v1.ListSessionsRequest;
import ai.jamba.v1.ListSessionsResponse;
import ai.jamba.v1.ModelInfo;
import ai.jamba.v1.ModelServiceGrpc;
import ai.jamba.v1.RewindSessionRequest;
import ai.jamba.v1.Session;
import ai.jamba.v1.SessionInput;
import ai.jamba.v1.SessionServiceGrpc;
import ai.jamba.v1.TokenizeRequest;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.netty.handler.ssl.JambaJdkAlpn;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.net.ssl.SSLException;

/**
 * A client of one jambad. Thread-safe; close it when done. Every method throws {@link
 * JambaException} (unchecked, with the gRPC status code) when the call fails. Methods taking a
 * {@code session} accept its id ({@code "notes"}) or its name ({@code "sessions/notes"}).
 *
 * <p>Routing and retries: every call that acts on a session sends its name as {@code
 * x-jamba-session} metadata, for consistent-hash load balancers. A call jambad refused before
 * doing anything (UNAVAILABLE with a RetryInfo: starting, draining, not the session's owner) is
 * sent again after RetryInfo.retry_delay, at most {@link Builder#maxRetries} times (default 3)
 * and within the call timeout; a generation only before its first response, an append only if
 * its text can be read again. No other failure is retried.
 */
public final class JambaClient implements AutoCloseable {
  /** How often a refused call is sent again, unless {@link Builder#maxRetries} says. */
  public static final int DEFAULT_MAX_RETRIES = 3;

  /** The metadata key naming the session a call acts on ({@code sessions/{id}}). */
  public static final String SESSION_METADATA_KEY = "x-jamba-session";

  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> SESSION =
      Metadata.Key.of(SESSION_METADATA_KEY, Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final Duration callTimeout;
  private final int maxRetries;
  private final SessionServiceGrpc.SessionServiceBlockingStub sessions;
  private final SessionServiceGrpc.SessionServiceStub sessionsAsync;
  private final GenerationServiceGrpc.GenerationServiceBlockingStub generation;
  private final ModelServiceGrpc.ModelServiceBlockingStub model;

  private JambaClient(ManagedChannel channel, Duration callTimeout, int maxRetries) {
    this.channel = channel;
    this.callTimeout = callTimeout;
    this.maxRetries = maxRetries;
    this.sessions = SessionServiceGrpc.newBlockingStub(channel);
    this.sessionsAsync = SessionServiceGrpc.newStub(channel);
    this.generation = GenerationServiceGrpc.newBlockingStub(channel);
    this.model = ModelServiceGrpc.newBlockingStub(channel);
  }

  /** Starts configuring a client of jambad at {@code target} ("host:port"). */
  public static Builder newBuilder(String target) {
    return new Builder(target);
  }

  /** Configures a {@link JambaClient}. TLS with the system's trusted CAs is the default. */
  public static final class Builder {
    private final String target;
    private String apiKey = "";
    private boolean plaintext;
    private Path caFile;
    private Path certFile;
    private Path keyFile;
    private Duration callTimeout;
    private int maxRetries = DEFAULT_MAX_RETRIES;

    private Builder(String target) {
      this.target = target;
    }

    /** Sends {@code authorization: Bearer <key>} with every call (null or "": no key). */
    public Builder apiKey(String apiKey) {
      this.apiKey = apiKey == null ? "" : apiKey;
      return this;
    }

    /** Verifies the server against the PEM CA certificates in {@code caFile}. */
    public Builder tls(Path caFile) {
      this.caFile = caFile;
      return this;
    }

    /** TLS with a client certificate and key (PEM files), for servers that require one. */
    public Builder mutualTls(Path caFile, Path certFile, Path keyFile) {
      this.caFile = caFile;
      this.certFile = certFile;
      this.keyFile = keyFile;
      return this;
    }

    /** Plaintext: only for a server on this machine, since the API key travels in the clear. */
    public Builder plaintext() {
      this.plaintext = true;
      return this;
    }

    /**
     * A deadline for every call, retries included (for a Generate or append: the whole stream).
     * Default: none.
     */
    public Builder callTimeout(Duration timeout) {
      this.callTimeout = timeout;
      return this;
    }

    /**
     * How often a call jambad refused before doing anything (UNAVAILABLE with RetryInfo) is sent
     * again, retry_delay apart (default 3; 0: never).
     */
    public Builder maxRetries(int maxRetries) {
      if (maxRetries < 0) {
        throw new IllegalArgumentException("maxRetries must not be negative");
      }
      this.maxRetries = maxRetries;
      return this;
    }

    /** The TLS context: grpc-netty's, or the JDK-ALPN one where Debian's netty cannot make it. */
    private SslContext sslContext() {
      File ca = caFile == null ? null : caFile.toFile();
      File cert = certFile == null ? null : certFile.toFile();
      File key = keyFile == null ? null : keyFile.toFile();
      try {
        try {
          SslContextBuilder builder = GrpcSslContexts.forClient().trustManager(ca);
          if (cert != null) {
            builder.keyManager(cert, key);
          }
          return builder.build();
        } catch (UnsupportedOperationException e) {
          // "JDK provider does not support ALPN protocol": Debian 12's netty (see JambaJdkAlpn).
          return JambaJdkAlpn.clientContext(ca, cert, key);
        }
      } catch (SSLException e) {
        throw new IllegalArgumentException("cannot set up TLS: " + e.getMessage(), e);
      }
    }

    /** Creates the client; the connection is made on the first call. */
    public JambaClient build() {
      ChannelCredentials credentials;
      if (plaintext) {
        if (caFile != null || certFile != null) {
          throw new IllegalStateException("plaintext() and TLS options are exclusive");
        }
        credentials = InsecureChannelCredentials.create();
      } else {
        credentials = NettySslContextChannelCredentials.create(sslContext());
      }
      if (!apiKey.isEmpty()) {
        credentials = CompositeChannelCredentials.create(credentials, new ApiKey(apiKey));
      }
      return new JambaClient(
          Grpc.newChannelBuilder(target, credentials).build(), callTimeout, maxRetries);
    }
  }

  /** The API key as call credentials. */
  private static final class ApiKey extends CallCredentials {
    private final String key;

    ApiKey(String key) {
      this.key = key;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, "Bearer " + key);
      applier.apply(headers);
    }

    @Override
    public void thisUsesUnstableApi() {}
  }

  private Retry newRetry() {
    return new Retry(
        maxRetries,
        callTimeout == null ? null : Deadline.after(callTimeout.toNanos(), TimeUnit.NANOSECONDS));
  }

  /** The stub for one attempt: the call's deadline, and {@code session} as x-jamba-session. */
  private static <S extends AbstractStub<S>> S prepare(S stub, String session, Retry retry) {
    S prepared = retry.deadline() == null ? stub : stub.withDeadline(retry.deadline());
    if (!session.isEmpty()) {
      Metadata headers = new Metadata();
      headers.put(SESSION, sessionName(session));
      prepared = prepared.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    return prepared;
  }

  /** A unary call with its routing metadata and retries ("" for no session). */
  private <S extends AbstractStub<S>, T> T call(S stub, String session, Function<S, T> method) {
    Retry retry = newRetry();
    while (true) {
      try {
        return method.apply(prepare(stub, session, retry));
      } catch (RuntimeException e) {
        if (!retry.await(e)) {
          throw JambaException.from(e);
        }
      }
    }
  }

  /** A session id ("notes") as its resource name ("sessions/notes"); names are kept as they are. */
  public static String sessionName(String session) {
    return session.startsWith("sessions/") ? session : "sessions/" + session;
  }

  /** The id part of a session name ("sessions/notes" -> "notes"). */
  public static String sessionId(String name) {
    return name.startsWith("sessions/") ? name.substring("sessions/".length()) : name;
  }

  /** Creates an empty session with the given id ("" lets the server choose one). */
  public Session createSession(String id) {
    CreateSessionRequest request = CreateSessionRequest.newBuilder().setSessionId(id).build();
    return call(sessions, id, stub -> stub.createSession(request));
  }

  public Session getSession(String session) {
    GetSessionRequest request =
        GetSessionRequest.newBuilder().setName(sessionName(session)).build();
    return call(sessions, session, stub -> stub.getSession(request));
  }

  public void deleteSession(String session) {
    deleteSession(session, "");
  }

  /** Deletes a session; a non-empty {@code etag} must match the session's. */
  public void deleteSession(String session, String etag) {
    DeleteSessionRequest request =
        DeleteSessionRequest.newBuilder().setName(sessionName(session)).setEtag(etag).build();
    call(sessions, session, stub -> stub.deleteSession(request));
  }

  /** Forks a session at its current end into a new session {@code newId}. */
  public Session forkSession(String session, String newId) {
    return forkSession(session, "", newId);
  }

  /** Forks a session at {@code checkpoint} (a checkpoint name; "" = the current end). */
  public Session forkSession(String session, String checkpoint, String newId) {
    ForkSessionRequest request =
        ForkSessionRequest.newBuilder()
            .setName(sessionName(session))
            .setCheckpoint(checkpoint)
            .setSessionId(newId)
            .build();
    return call(sessions, session, stub -> stub.forkSession(request)); // routed by the parent
  }

  public Session rewindSession(String session, String checkpoint) {
    return rewindSession(session, checkpoint, "");
  }

  /** Truncates a session to one of its checkpoints, deleting the later ones. */
  public Session rewindSession(String session, String checkpoint, String etag) {
    RewindSessionRequest request =
        RewindSessionRequest.newBuilder()
            .setName(sessionName(session))
            .setCheckpoint(checkpoint)
            .setEtag(etag)
            .build();
    return call(sessions, session, stub -> stub.rewindSession(request));
  }

  /** All of a session's checkpoints, by token position (every page). */
  public List<Checkpoint> listCheckpoints(String session) {
    List<Checkpoint> all = new ArrayList<>();
    String token = "";
    do {
      ListCheckpointsResponse page = listCheckpointsPage(session, 0, token);
      all.addAll(page.getCheckpointsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return all;
  }

  /** One page of a session's checkpoints ({@code pageSize} 0: the server's default). */
  public ListCheckpointsResponse listCheckpointsPage(
      String session, int pageSize, String pageToken) {
    ListCheckpointsRequest request =
        ListCheckpointsRequest.newBuilder()
            .setParent(sessionName(session))
            .setPageSize(pageSize)
            .setPageToken(pageToken)
            .build();
    return call(sessions, session, stub -> stub.listCheckpoints(request));
  }

  /** One page of the tenant's sessions, newest first ({@code pageToken} "" for the first). */
  public ListSessionsResponse listSessionsPage(int pageSize, String pageToken) {
    ListSessionsRequest request =
        ListSessionsRequest.newBuilder().setPageSize(pageSize).setPageToken(pageToken).build();
    return call(sessions, "", stub -> stub.listSessions(request));
  }

  /** The tenant's sessions, newest first, fetched {@code pageSize} at a time as iterated. */
  public SessionPages listSessions(int pageSize) {
    return new SessionPages(this, pageSize);
  }

  /**
   * Streams a UTF-8 text file into a session; returns the committed session. A refused append
   * reads the file again from the start.
   */
  public Session appendFile(String session, Path file, AppendOptions options) {
    Retry retry = newRetry();
    while (true) {
      AppendCall call;
      try (InputStream in = Files.newInputStream(file)) {
        call = startAppend(session, new Utf8Chunker(in, options.chunkBytes), options, retry);
        Session committed = call.await();
        if (committed != null) {
          return committed;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      call.throwUnlessRetried(retry, /*replayable=*/ true);
    }
  }

  /**
   * Streams UTF-8 text into a session in chunks, with flow control, and returns the committed
   * session. All or nothing: on any failure the session is unchanged. A refused append is sent
   * again only if none of the stream had been read (use {@link #appendFile}, which reads again).
   * Throws {@link JambaException} when the call fails and {@link UncheckedIOException} when
   * reading fails.
   */
  public Session appendText(String session, InputStream text, AppendOptions options) {
    Utf8Chunker chunker = new Utf8Chunker(text, options.chunkBytes);
    Retry retry = newRetry();
    while (true) {
      AppendCall call = startAppend(session, chunker, options, retry);
      Session committed = call.await();
      if (committed != null) {
        return committed;
      }
      call.throwUnlessRetried(retry, /*replayable=*/ false);
    }
  }

  private AppendCall startAppend(
      String session, Utf8Chunker chunker, AppendOptions options, Retry retry) {
    AppendToSessionConfig config =
        AppendToSessionConfig.newBuilder()
            .setSession(sessionName(session))
            .setMessageRole(options.role)
            .setEtag(options.etag)
            .setProgressIntervalTokens(options.progressIntervalTokens)
            .build();
    AppendCall call = new AppendCall(config, chunker, options);
    prepare(sessionsAsync, session, retry).appendToSession(call);
    return call;
  }

  /** One AppendToSession call: sends chunks whenever the transport is ready for more. */
  private static final class AppendCall
      implements ClientResponseObserver<AppendToSessionRequest, AppendToSessionResponse> {
    final CompletableFuture<Session> result = new CompletableFuture<>();
    private final AppendToSessionConfig config;
    private final Utf8Chunker chunker;
    private final AppendOptions options;
    private ClientCallStreamObserver<AppendToSessionRequest> requests;
    private boolean configSent;
    private boolean finishedSending;
    private volatile boolean taken; // a chunk was taken from the text
    private Throwable failure;
    private Session committed;

    AppendCall(AppendToSessionConfig config, Utf8Chunker chunker, AppendOptions options) {
      this.config = config;
      this.chunker = chunker;
      this.options = options;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<AppendToSessionRequest> requestStream) {
      requests = requestStream;
      requestStream.setOnReadyHandler(this::sendWhileReady);
    }

    // The on-ready handler runs on the call's serializing executor, one invocation at a time.
    private void sendWhileReady() {
      try {
        while (!finishedSending && requests.isReady()) {
          if (!configSent) {
            requests.onNext(AppendToSessionRequest.newBuilder().setConfig(config).build());
            configSent = true;
            continue;
          }
          String chunk = chunker.next();
          taken |= chunk != null;
          if (chunk == null) {
            finishedSending = true;
            requests.onCompleted();
          } else {
            requests.onNext(AppendToSessionRequest.newBuilder().setText(chunk).build());
          }
        }
      } catch (IOException e) {
        finishedSending = true;
        result.completeExceptionally(e);
        requests.cancel("reading the text failed", e); // the server then changes nothing
      }
    }

    void cancel(String why) {
      if (requests != null) {
        requests.cancel(why, null);
      }
    }

    /** The committed session, or null after a failure (see throwUnlessRetried). */
    Session await() {
      try {
        return result.get();
      } catch (ExecutionException e) {
        failure = e.getCause();
        if (failure instanceof IOException) {
          throw new UncheckedIOException((IOException) failure);
        }
        return null;
      } catch (InterruptedException e) {
        cancel("interrupted");
        Thread.currentThread().interrupt();
        throw JambaException.from(
            Status.CANCELLED.withDescription("interrupted").withCause(e).asRuntimeException());
      }
    }

    /** Throws the failure unless it may be retried (then returns after retry_delay). */
    void throwUnlessRetried(Retry retry, boolean replayable) {
      if ((replayable || !taken) && retry.await(failure)) {
        return;
      }
      throw JambaException.from(failure);
    }

    @Override
    public void onNext(AppendToSessionResponse response) {
      if (response.hasProgress()) {
        options.onProgress.accept(response.getProgress());
      }
      if (response.hasSession()) {
        committed = response.getSession();
      }
    }

    @Override
    public void onError(Throwable t) {
      finishedSending = true; // (same serializing executor as the on-ready handler)
      result.completeExceptionally(t); // no-op if a read error already completed it
    }

    @Override
    public void onCompleted() {
      if (committed == null) {
        result.completeExceptionally(
            new IllegalStateException("AppendToSession ended without the committed session"));
      } else {
        result.complete(committed);
      }
    }
  }

  /**
   * Starts a generation; iterate the returned stream (in try-with-resources). A generation from a
   * session names it in x-jamba-session. Retried only if jambad refused it before its first
   * response: with {@code SessionInput.commit} it changes the session.
   */
  public GenerateStream generate(GenerateRequest request) {
    Retry retry = newRetry();
    String session = request.hasSession() ? request.getSession().getSession() : "";
    return new GenerateStream(() -> prepare(generation, session, retry).generate(request), retry);
  }

  /**
   * A common request: a user chat message on a session, answered as the assistant's turn; with
   * {@code commit} the question and the answer stay in the session.
   */
  public static GenerateRequest.Builder ask(String session, String question, boolean commit) {
    return GenerateRequest.newBuilder()
        .setSession(
            SessionInput.newBuilder()
                .setSession(sessionName(session))
                .setMessages(
                    ChatMessages.newBuilder()
                        .addMessages(
                            ChatMessage.newBuilder()
                                .setRole(ChatMessage.Role.USER)
                                .setContent(question)))
                .setCommit(commit));
  }

  /** The served model, its tokenizer, the backend and the server's limits. */
  public ModelInfo getModelInfo() {
    return call(model, "", stub -> stub.getModelInfo(GetModelInfoRequest.getDefaultInstance()));
  }

  /** The tokens of a chat (with its tools and documents) as a generation renders it. */
  public List<Integer> tokenize(ChatMessages chat) {
    TokenizeRequest request = TokenizeRequest.newBuilder().setMessages(chat).build();
    return call(model, "", stub -> stub.tokenize(request)).getTokenIdsList();
  }

  /** The generated blocking session stub, for anything not wrapped here (plain gRPC errors). */
  public SessionServiceGrpc.SessionServiceBlockingStub sessionStub() {
    return sessions;
  }

  public GenerationServiceGrpc.GenerationServiceBlockingStub generationStub() {
    return generation;
  }

  public ModelServiceGrpc.ModelServiceBlockingStub modelStub() {
    return model;
  }

  /** Closes the channel, waiting up to 5 seconds for calls in flight. */
  @Override
  public void close() {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
