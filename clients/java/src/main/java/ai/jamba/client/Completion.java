// A whole generation, gathered from a GenerateStream by GenerateStream.collect.
package ai.jamba.client;

import ai.jamba.v1.ChatMessage;
import ai.jamba.v1.FinishReason;
import ai.jamba.v1.Session;
import ai.jamba.v1.ToolCall;
import ai.jamba.v1.Usage;
import java.util.List;
import java.util.Optional;

/**
 * The text, reasoning, tool calls, tokens, finish reason and usage of one generation. For a chat
 * reply the text is the answer alone: the reasoning and the tool calls come apart.
 */
public final class Completion {
  private final String text;
  private final String reasoning;
  private final List<ToolCall> toolCalls;
  private final List<Integer> tokenIds;
  private final FinishReason finishReason;
  private final Usage usage;
  private final Session session;
  private final boolean malformedToolCall;

  Completion(
      String text,
      String reasoning,
      List<ToolCall> toolCalls,
      List<Integer> tokenIds,
      FinishReason finishReason,
      Usage usage,
      Session session,
      boolean malformedToolCall) {
    this.text = text;
    this.reasoning = reasoning;
    this.toolCalls = List.copyOf(toolCalls);
    this.tokenIds = List.copyOf(tokenIds);
    this.finishReason = finishReason;
    this.usage = usage;
    this.session = session;
    this.malformedToolCall = malformedToolCall;
  }

  /** Every delta's text, concatenated (a chat reply: the answer alone). */
  public String getText() {
    return text;
  }

  /** A chat reply's reasoning (its think block). */
  public String getReasoning() {
    return reasoning;
  }

  /** A chat reply's tool calls, in order (FINISH_REASON_TOOL_CALLS). */
  public List<ToolCall> getToolCalls() {
    return toolCalls;
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

  /** A tool-call block the model wrote did not parse; it is in the text as written. */
  public boolean isMalformedToolCall() {
    return malformedToolCall;
  }

  /**
   * The reply as an assistant message (answer, reasoning and tool calls), to send back before the
   * tool results or the next user message.
   */
  public ChatMessage assistantMessage() {
    return Chat.assistant(text, toolCalls, reasoning);
  }
}
