// A tool-call round trip with the Java client: the model is offered a weather tool; when it
// calls it, the program runs the tool and sends the result back, and the model answers from it.
// Reasoning is printed apart from the answer.
package ai.jamba.examples;

import ai.jamba.client.Chat;
import ai.jamba.client.Completion;
import ai.jamba.client.JambaClient;
import ai.jamba.client.JambaException;
import ai.jamba.v1.ChatMessages;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.SamplingParams;
import ai.jamba.v1.Tool;
import ai.jamba.v1.ToolCall;
import ai.jamba.v1.ToolChoice;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Usage: {@code java -cp jamba-examples.jar ai.jamba.examples.ToolCallExample --server HOST:PORT
 * --api-key KEY [--question Q] [--tool-choice auto|none|required|get_weather] [--ca CA [--cert C
 * --key K]]}. The served model needs a chat template with tools (ModelInfo.tokenizer
 * .tool_call_format "hermes" or "jamba", e.g. the reasoning-3b demo preset); a model with random
 * weights rarely calls a tool by itself: {@code --tool-choice get_weather} makes the reply a call.
 */
public final class ToolCallExample {
  private static final Tool WEATHER =
      Chat.tool(
          "get_weather",
          "The current weather in a city",
          Map.of(
              "type", "object",
              "properties", Map.of("city", Map.of("type", "string")),
              "required", List.of("city")));

  private ToolCallExample() {}

  /** The tool itself (a stand-in for a real weather service): its result as JSON. */
  private static String getWeather(String arguments) {
    String city = "unknown";
    try {
      JsonElement given = JsonParser.parseString(arguments).getAsJsonObject().get("city");
      if (given != null) {
        city = given.getAsString();
      }
    } catch (RuntimeException e) {
      // arguments the model made up: keep "unknown"
    }
    JsonObject result = new JsonObject();
    result.addProperty("city", city);
    result.addProperty("temperature_c", 22);
    result.addProperty("conditions", "sunny");
    return result.toString();
  }

  /** One assistant turn, streamed: reasoning as it comes (on stderr), tool calls once complete. */
  private static Completion reply(JambaClient client, ChatMessages chat, ToolChoice choice) {
    GenerateRequest request =
        Chat.request(chat)
            .setToolChoice(choice)
            .setMaxTokens(64)
            .setSampling(SamplingParams.newBuilder().setSeed(7))
            .build();
    Completion completion =
        client.generate(request).collectDeltas(delta -> System.err.print(delta.getReasoning()));
    System.err.println();
    System.out.println("reasoning: '" + completion.getReasoning() + "'");
    System.out.println("answer: '" + completion.getText() + "'");
    System.out.println(
        "["
            + completion.getFinishReason()
            + "; "
            + completion.getUsage().getPromptTokens()
            + " prompt tokens, "
            + completion.getUsage().getCompletionTokens()
            + " generated]");
    return completion;
  }

  public static void main(String[] args) {
    Map<String, String> flags = new HashMap<>();
    flags.put("server", "127.0.0.1:50051");
    flags.put("api-key", System.getenv().getOrDefault("JAMBA_API_KEY", ""));
    flags.put("question", "What is the weather in Paris?");
    flags.put("tool-choice", "auto");
    for (int i = 0; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        System.err.println(
            "usage: ToolCallExample --server HOST:PORT --api-key KEY [--question Q]"
                + " [--tool-choice auto|none|required|NAME] [--ca CA [--cert C --key K]]");
        System.exit(2);
      }
      flags.put(args[i].substring(2), args[i + 1]);
    }
    JambaClient.Builder builder =
        JambaClient.newBuilder(flags.get("server")).apiKey(flags.get("api-key"));
    if (!flags.containsKey("ca")) {
      builder.plaintext();
    } else if (flags.containsKey("cert")) {
      builder.mutualTls(
          Path.of(flags.get("ca")), Path.of(flags.get("cert")), Path.of(flags.get("key")));
    } else {
      builder.tls(Path.of(flags.get("ca")));
    }
    try (JambaClient client = builder.build()) {
      System.out.println(
          "tool calls read as '" + client.getModelInfo().getTokenizer().getToolCallFormat() + "'");
      ChatMessages.Builder chat =
          ChatMessages.newBuilder().addMessages(Chat.user(flags.get("question"))).addTools(WEATHER);
      Completion first =
          reply(client, chat.build(), Chat.parseToolChoice(flags.get("tool-choice")));
      if (first.getToolCalls().isEmpty()) {
        return; // answered without the tool
      }
      chat.addMessages(first.assistantMessage()); // the turn, with its calls
      for (ToolCall call : first.getToolCalls()) {
        System.out.println(
            "tool call " + call.getId() + ": " + call.getName() + " " + call.getArguments());
        String result = getWeather(call.getArguments());
        System.out.println("tool result: " + result);
        chat.addMessages(Chat.toolResult(call, result));
      }
      reply(client, chat.build(), Chat.autoTools()); // generation continues from the result
    } catch (JambaException e) {
      // The gRPC code and, when the server sent one, the stable reason to match on.
      System.err.println(
          "error: " + e.getCode() + ": " + e.getStatus().getDescription() + " (reason: "
              + e.getReason() + ")");
      System.exit(1);
    } catch (IllegalArgumentException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(2);
    }
  }
}
