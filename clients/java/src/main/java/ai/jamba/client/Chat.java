// Chat building blocks: messages of every role (with tool calls, tool results and reasoning),
// tool definitions with a JSON Schema, documents, the tool choice, and the GenerateRequest of a
// chat, stateless or on a session. They build the ai.jamba.v1 messages.
package ai.jamba.client;

import ai.jamba.v1.ChatMessage;
import ai.jamba.v1.ChatMessages;
import ai.jamba.v1.Document;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.SessionInput;
import ai.jamba.v1.Tool;
import ai.jamba.v1.ToolCall;
import ai.jamba.v1.ToolChoice;
import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Static builders of chats. A round trip:
 *
 * <pre>{@code
 * ChatMessages.Builder chat = ChatMessages.newBuilder()
 *     .addMessages(Chat.user("Weather in Paris?"))
 *     .addTools(Chat.tool("get_weather", "The weather in a city",
 *         "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}"));
 * Completion reply = client.generate(Chat.request(chat.build())
 *     .setToolChoice(Chat.forceTool("get_weather")).build()).collect();
 * chat.addMessages(reply.assistantMessage());              // the turn, with its tool calls
 * chat.addMessages(Chat.toolResult(reply.getToolCalls().get(0), "{\"temp\": 22}"));
 * Completion answer = client.generate(Chat.request(chat.build()).build()).collect();
 * }</pre>
 */
public final class Chat {
  private static final Gson GSON = new Gson();

  private Chat() {}

  /** An instruction message (by convention the first). */
  public static ChatMessage system(String content) {
    return ChatMessage.newBuilder().setRole(ChatMessage.Role.SYSTEM).setContent(content).build();
  }

  /** A message of the application's user. */
  public static ChatMessage user(String content) {
    return ChatMessage.newBuilder().setRole(ChatMessage.Role.USER).setContent(content).build();
  }

  /**
   * A previous reply: its answer, tool calls and reasoning ({@link Completion#assistantMessage()}
   * builds it from a reply).
   */
  public static ChatMessage assistant(String content, List<ToolCall> toolCalls, String reasoning) {
    return ChatMessage.newBuilder()
        .setRole(ChatMessage.Role.ASSISTANT)
        .setContent(content)
        .addAllToolCalls(toolCalls)
        .setReasoning(reasoning)
        .build();
  }

  /** The result of a tool call, for the model to read; the call's id and name are copied. */
  public static ChatMessage toolResult(ToolCall call, String content) {
    if (call.getId().isEmpty()) {
      throw new IllegalArgumentException("a tool result needs the id of the call it answers");
    }
    return ChatMessage.newBuilder()
        .setRole(ChatMessage.Role.TOOL)
        .setContent(content)
        .setToolCallId(call.getId())
        .setName(call.getName())
        .build();
  }

  /**
   * {@code json} checked to be a JSON object ({@code what} names it in the error).
   *
   * @throws IllegalArgumentException if it is not
   */
  public static String jsonObject(String json, String what) {
    JsonElement parsed;
    try {
      parsed = JsonParser.parseString(json);
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(what + " is not valid JSON: " + e.getMessage(), e);
    }
    if (!parsed.isJsonObject()) {
      throw new IllegalArgumentException(what + " must be a JSON object, got " + json);
    }
    return json;
  }

  /** A value (a Map, a record-like object) as the text of a JSON object. */
  public static String jsonObject(Object value, String what) {
    return jsonObject(GSON.toJson(value), what);
  }

  /**
   * A function the model may call: its name (1 to 64 of [A-Za-z0-9_.-]), what it does, and the
   * JSON Schema of its arguments as a JSON object ("" for the server's default, {}).
   *
   * @throws IllegalArgumentException for an empty name or parameters that are not a JSON object
   */
  public static Tool tool(String name, String description, String parametersJson) {
    if (name.isEmpty()) {
      throw new IllegalArgumentException("a tool needs a name");
    }
    Tool.Builder tool = Tool.newBuilder().setName(name).setDescription(description);
    if (!parametersJson.isEmpty()) {
      tool.setParameters(jsonObject(parametersJson, "the parameters of tool " + name));
    }
    return tool.build();
  }

  /** A tool whose JSON Schema is given as a Map (serialized with Gson). */
  public static Tool tool(String name, String description, Map<String, ?> parameters) {
    return tool(name, description, jsonObject(parameters, "the parameters of tool " + name));
  }

  /** A document the model may use: its text, a title ("" for none) and more fields. */
  public static Document document(String text, String title, Map<String, String> metadata) {
    if (text.isEmpty()) {
      throw new IllegalArgumentException("a document needs its text");
    }
    return Document.newBuilder().setText(text).setTitle(title).putAllMetadata(metadata).build();
  }

  /** The model decides whether to call a tool (the default). */
  public static ToolChoice autoTools() {
    return ToolChoice.newBuilder().setMode(ToolChoice.Mode.AUTO).build();
  }

  /** The reply calls no tool. */
  public static ToolChoice noTools() {
    return ToolChoice.newBuilder().setMode(ToolChoice.Mode.NONE).build();
  }

  /** The reply calls one of the tools offered. */
  public static ToolChoice requireTool() {
    return ToolChoice.newBuilder().setMode(ToolChoice.Mode.REQUIRED).build();
  }

  /** The reply calls the tool {@code function}. */
  public static ToolChoice forceTool(String function) {
    return ToolChoice.newBuilder().setMode(ToolChoice.Mode.FUNCTION).setFunction(function).build();
  }

  /** "auto", "none", "required", or a tool's name (which forces that tool). */
  public static ToolChoice parseToolChoice(String choice) {
    switch (choice.toLowerCase(Locale.ROOT)) {
      case "auto":
        return autoTools();
      case "none":
        return noTools();
      case "required":
        return requireTool();
      case "":
        throw new IllegalArgumentException(
            "a tool choice is auto, none, required or the name of a tool");
      default:
        return forceTool(choice);
    }
  }

  /** Extra chat-template variables, such as {@code Map.of("enable_thinking", false)}, as JSON. */
  public static String templateVariables(Map<String, ?> variables) {
    return jsonObject(variables, "the template variables");
  }

  /** A stateless request for the reply to a chat. */
  public static GenerateRequest.Builder request(ChatMessages chat) {
    return GenerateRequest.newBuilder().setMessages(chat);
  }

  /** A request that appends a chat to a session first; {@code commit} keeps it and the reply. */
  public static GenerateRequest.Builder sessionRequest(
      String session, ChatMessages chat, boolean commit) {
    return GenerateRequest.newBuilder()
        .setSession(
            SessionInput.newBuilder()
                .setSession(JambaClient.sessionName(session))
                .setMessages(chat)
                .setCommit(commit));
  }
}
