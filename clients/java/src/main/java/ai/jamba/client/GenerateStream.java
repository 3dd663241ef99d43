// One Generate call as a Java Iterator (and Stream) of deltas; closing it cancels the call.
package ai.jamba.client;

import ai.jamba.v1.FinishReason;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.GenerateResponse;
import ai.jamba.v1.GenerationServiceGrpc;
import ai.jamba.v1.Session;
import ai.jamba.v1.Usage;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The deltas of one generation, in order; the last has the finish reason and usage. Iterating
 * throws {@link JambaException} if the call fails. Use it in try-with-resources: {@link #close()}
 * cancels a call that is still running (a committing generation then commits nothing).
 */
public final class GenerateStream implements Iterator<GenerateResponse>, AutoCloseable {
  private final Context.CancellableContext context;
  private final Iterator<GenerateResponse> responses;

  GenerateStream(
      GenerationServiceGrpc.GenerationServiceBlockingStub stub, GenerateRequest request) {
    context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      responses = stub.generate(request);
    } finally {
      context.detach(previous);
    }
  }

  @Override
  public boolean hasNext() {
    try {
      return responses.hasNext();
    } catch (StatusRuntimeException e) {
      close();
      throw JambaException.from(e);
    }
  }

  @Override
  public GenerateResponse next() {
    try {
      return responses.next();
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
    StringBuilder text = new StringBuilder();
    List<Integer> tokens = new ArrayList<>();
    FinishReason finishReason = FinishReason.FINISH_REASON_UNSPECIFIED;
    Usage usage = Usage.getDefaultInstance();
    Session session = null;
    try (this) {
      while (hasNext()) {
        GenerateResponse response = next();
        text.append(response.getText());
        if (!response.getText().isEmpty()) {
          onText.accept(response.getText());
        }
        tokens.addAll(response.getTokenIdsList());
        if (response.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
          finishReason = response.getFinishReason();
        }
        if (response.hasUsage()) {
          usage = response.getUsage();
        }
        if (response.hasSession()) {
          session = response.getSession();
        }
      }
    }
    return new Completion(text.toString(), tokens, finishReason, usage, session);
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
