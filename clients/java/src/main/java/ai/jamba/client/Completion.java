// A whole generation, gathered from a GenerateStream by GenerateStream.collect.
package ai.jamba.client;

import ai.jamba.v1.FinishReason;
import ai.jamba.v1.Session;
import ai.jamba.v1.Usage;
import java.util.List;
import java.util.Optional;

/** The text, tokens, finish reason and usage of one generation. */
public final class Completion {
  private final String text;
  private final List<Integer> tokenIds;
  private final FinishReason finishReason;
  private final Usage usage;
  private final Session session;

  Completion(
      String text,
      List<Integer> tokenIds,
      FinishReason finishReason,
      Usage usage,
      Session session) {
    this.text = text;
    this.tokenIds = List.copyOf(tokenIds);
    this.finishReason = finishReason;
    this.usage = usage;
    this.session = session;
  }

  /** Every delta's text, concatenated. */
  public String getText() {
    return text;
  }

  /** Every sampled token id, in order. */
  public List<Integer> getTokenIds() {
    return tokenIds;
  }

  public FinishReason getFinishReason() {
    return finishReason;
  }

  public Usage getUsage() {
    return usage;
  }

  /** The updated session, after a committing generation. */
  public Optional<Session> getSession() {
    return Optional.ofNullable(session);
  }
}
