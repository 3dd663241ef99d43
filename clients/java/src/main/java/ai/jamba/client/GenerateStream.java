// One Generate call as a Java Iterator (and Stream) of deltas; closing it cancels the call.
package ai.jamba.client;

import ai.jamba.v1.FinishReason;
import ai.jamba.v1.GenerateResponse;
import ai.jamba.v1.Session;
import ai.jamba.v1.ToolCall;
import ai.jamba.v1.Usage;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Supplier;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The deltas of one generation, in order; the last has the finish reason and usage. A chat
 * reply's deltas carry its reasoning and its answer as they are generated, and each tool call
 * once its markup is complete. Iterating throws {@link JambaException} if the call fails; a call
 * jambad refused before its first response (UNAVAILABLE with RetryInfo) is sent again first. Use
 * it in try-with-resources: {@link #close()} cancels a call that is still running (a committing
 * generation then commits nothing).
 */
public final class GenerateStream implements Iterator<GenerateResponse>, AutoCloseable {
  private final Context.CancellableContext context;
  private final Supplier<Iterator<GenerateResponse>> start;
  private final Retry retry;
  private Iterator<GenerateResponse> responses;
  private boolean received; // a response arrived: the call is no longer retried

  GenerateStream(Supplier<Iterator<GenerateResponse>> start, Retry retry) {
    this.start = start;
    this.retry = retry;
    context = Context.current().withCancellation();
    responses = startInContext();
  }

  private Iterator<GenerateResponse> startInContext() {
    Context previous = context.attach();
    try {
      return start.get();
    } finally {
      context.detach(previous);
    }
  }

  @Override
  public boolean hasNext() {
    while (true) {
      try {
        return responses.hasNext();
      } catch (StatusRuntimeException e) {
        if (received || context.isCancelled() || !retry.await(e)) {
          close();
          throw JambaException.from(e);
        }
        responses = startInContext();
      }
    }
  }

  @Override
  public GenerateResponse next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    try {
      GenerateResponse response = responses.next();
      received = true;
      return response;
    } catch (StatusRuntimeException e) {
      close();
      throw JambaException.from(e);
    }
  }

  /** The remaining deltas as a sequential Stream; closing the Stream closes this. */
  public Stream<GenerateResponse> stream() {
    return StreamSupport.stream(
            Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL),
            false)
        .onClose(this::close);
  }

  /** Reads the rest of the generation, passing each delta's text to {@code onText} as it comes. */
  public Completion collect(Consumer<String> onText) {
    return collectDeltas(
        response -> {
          if (!response.getText().isEmpty()) {
            onText.accept(response.getText());
          }
        });
  }

  /**
   * Reads the rest of the generation, passing each delta to {@code onDelta} as it comes (its
   * text, reasoning and tool calls).
   */
  public Completion collectDeltas(Consumer<GenerateResponse> onDelta) {
    StringBuilder text = new StringBuilder();
    StringBuilder reasoning = new StringBuilder();
    List<ToolCall> toolCalls = new ArrayList<>();
    List<Integer> tokens = new ArrayList<>();
    FinishReason finishReason = FinishReason.FINISH_REASON_UNSPECIFIED;
    Usage usage = Usage.getDefaultInstance();
    Session session = null;
    boolean malformed = false;
    try (this) {
      while (hasNext()) {
        GenerateResponse response = next();
        text.append(response.getText());
        reasoning.append(response.getReasoning());
        toolCalls.addAll(response.getToolCallsList());
        onDelta.accept(response);
        tokens.addAll(response.getTokenIdsList());
        if (response.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
          finishReason = response.getFinishReason();
          malformed = response.getMalformedToolCall();
        }
        if (response.hasUsage()) {
          usage = response.getUsage();
        }
        if (response.hasSession()) {
          session = response.getSession();
        }
      }
    }
    return new Completion(
        text.toString(),
        reasoning.toString(),
        toolCalls,
        tokens,
        finishReason,
        usage,
        session,
        malformed);
  }

  /** Reads the rest of the generation. */
  public Completion collect() {
    return collect(text -> {});
  }

  @Override
  public void close() {
    context.cancel(null);
  }
}
