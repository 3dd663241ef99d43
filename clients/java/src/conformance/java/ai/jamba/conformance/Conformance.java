// Runs the shared client conformance scenario (clients/conformance/scenario.json) against a live
// jambad with the Java client, printing one JSON line per step as clients/conformance/README.md
// describes.
package ai.jamba.conformance;

import ai.jamba.client.AppendOptions;
import ai.jamba.client.Chat;
import ai.jamba.client.Completion;
import ai.jamba.client.JambaClient;
import ai.jamba.client.JambaException;
import ai.jamba.client.SessionPages;
import ai.jamba.v1.ChatMessage;
import ai.jamba.v1.ChatMessages;
import ai.jamba.v1.Checkpoint;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.ListCheckpointsResponse;
import ai.jamba.v1.SamplingParams;
import ai.jamba.v1.Session;
import ai.jamba.v1.SessionInput;
import ai.jamba.v1.ToolCall;
import ai.jamba.v1.ToolChoice;
import ai.jamba.v1.Usage;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Usage: {@code java -jar jamba-conformance.jar --server HOST:PORT [--servers NAME=HOST:PORT,...]
 * --scenario F --prefix NAME}.
 */
public final class Conformance {
  private final Map<String, String> servers; // "" is the default server
  private final Path dir;
  private final String prefix;
  private final JsonObject apiKeys;
  private final Map<List<String>, JambaClient> clients = new HashMap<>(); // [server, key]
  // What each chat Generate step sent and got back, for the steps that continue it.
  private final Map<String, ChatMessages> sentChats = new HashMap<>();
  private final Map<String, Completion> replies = new HashMap<>();
  private final BufferedReader stdin =
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

  private Conformance(Map<String, String> servers, Path dir, String prefix, JsonObject apiKeys) {
    this.servers = servers;
    this.dir = dir;
    this.prefix = prefix;
    this.apiKeys = apiKeys;
  }

  public static void main(String[] args) throws IOException {
    Map<String, String> flags = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      flags.put(args[i], args[i + 1]);
    }
    String server = flags.get("--server");
    String scenarioPath = flags.get("--scenario");
    String prefix = flags.get("--prefix");
    if (server == null || scenarioPath == null || prefix == null) {
      System.err.println(
          "usage: jamba-conformance --server HOST:PORT [--servers NAME=HOST:PORT,...]"
              + " --scenario scenario.json --prefix NAME");
      System.exit(2);
    }
    Map<String, String> servers = new HashMap<>();
    servers.put("", server);
    for (String entry : flags.getOrDefault("--servers", "").split(",")) {
      if (entry.isEmpty()) {
        continue;
      }
      String[] parts = entry.split("=", 2);
      if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
        System.err.println("--servers: " + entry + " is not NAME=HOST:PORT");
        System.exit(2);
      }
      servers.put(parts[0], parts[1]);
    }
    Path path = Path.of(scenarioPath);
    JsonObject scenario =
        JsonParser.parseString(Files.readString(path, StandardCharsets.UTF_8)).getAsJsonObject();
    Conformance run =
        new Conformance(
            servers,
            path.toAbsolutePath().getParent(),
            prefix,
            scenario.getAsJsonObject("api_keys"));
    Gson gson = new Gson();
    for (JsonElement element : scenario.getAsJsonArray("steps")) {
      JsonObject step = element.getAsJsonObject();
      JsonObject values = new JsonObject();
      String code = "OK";
      try {
        run.step(step, values);
      } catch (JambaException e) {
        code = e.getCode().name();
        values = new JsonObject();
      } catch (RuntimeException e) {
        // Failed inside the client (a bug, or a step it cannot run): say why, go on.
        System.err.println("step " + step.get("name").getAsString() + ": " + e);
        code = "CLIENT_ERROR";
        values = new JsonObject();
      }
      JsonObject line = new JsonObject();
      line.addProperty("step", step.get("name").getAsString());
      line.addProperty("code", code);
      line.add("values", values);
      System.out.println(gson.toJson(line));
      System.out.flush();
    }
    run.clients.values().forEach(JambaClient::close);
  }

  private String expand(String s) {
    return s.replace("{prefix}", prefix);
  }

  /** Writes "{prefix}" back at the start of an id, so that every client records the same. */
  private String unexpandId(String id) {
    return id.startsWith(prefix) ? "{prefix}" + id.substring(prefix.length()) : id;
  }

  /** unexpandId for a session name ("sessions/{prefix}-doc"). */
  private String unexpandName(String name) {
    return JambaClient.sessionName(unexpandId(JambaClient.sessionId(name)));
  }

  private JambaClient client(JsonObject step) {
    String key = "";
    if (step.has("api_key")) {
      key = step.get("api_key").getAsString();
    } else if (step.has("key")) {
      key = apiKeys.get(step.get("key").getAsString()).getAsString();
    }
    String server = string(step, "server");
    String address = servers.get(server);
    if (address == null) {
      throw new IllegalStateException("no --servers address for " + server);
    }
    return clients.computeIfAbsent(
        List.of(server, key),
        k ->
            JambaClient.newBuilder(address)
                .plaintext()
                .apiKey(k.get(1))
                .callTimeout(Duration.ofMinutes(5))
                .build());
  }

  /**
   * Asks the runner to restart a server (a control line on stdout) and waits for its new address
   * on stdin.
   */
  private void restart(String server) {
    clients.entrySet().removeIf(
        entry -> {
          if (entry.getKey().get(0).equals(server)) {
            entry.getValue().close();
            return true;
          }
          return false;
        });
    JsonObject control = new JsonObject();
    control.addProperty("control", "restart");
    control.addProperty("server", server);
    System.out.println(new Gson().toJson(control));
    System.out.flush();
    String reply;
    try {
      reply = stdin.readLine();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    String[] parts = reply == null ? new String[0] : reply.split("=", 2);
    if (parts.length != 2 || !parts[0].equals(server) || parts[1].isEmpty()) {
      throw new IllegalStateException("the runner did not restart " + server + ": " + reply);
    }
    servers.put(server, parts[1]);
  }

  /**
   * The step's chat, or null: the history of an earlier step with its reply ("history_from"), the
   * step's own messages, tools, documents and template variables, then a result for each tool
   * call of an earlier step's reply ("tool_results").
   */
  private ChatMessages conversation(JsonObject step) {
    boolean chat = step.has("tool_results");
    for (String key :
        List.of("history_from", "messages", "tools", "documents", "template_variables")) {
      chat |= step.has(key);
    }
    if (!chat) {
      return null;
    }
    ChatMessages.Builder conversation = ChatMessages.newBuilder();
    if (step.has("history_from")) {
      String earlier = step.get("history_from").getAsString();
      conversation.mergeFrom(sentChats.get(earlier));
      conversation.addMessages(replies.get(earlier).assistantMessage());
    }
    if (step.has("messages")) {
      for (JsonElement m : step.getAsJsonArray("messages")) {
        conversation.addMessages(
            ChatMessage.newBuilder()
                .setRole(ChatMessage.Role.valueOf(string(m.getAsJsonObject(), "role")))
                .setContent(string(m.getAsJsonObject(), "content")));
      }
    }
    if (step.has("tools")) {
      conversation.clearTools();
      for (JsonElement t : step.getAsJsonArray("tools")) {
        JsonObject tool = t.getAsJsonObject();
        conversation.addTools(
            Chat.tool(
                string(tool, "name"), string(tool, "description"), string(tool, "parameters")));
      }
    }
    if (step.has("documents")) {
      conversation.clearDocuments();
      for (JsonElement d : step.getAsJsonArray("documents")) {
        JsonObject document = d.getAsJsonObject();
        Map<String, String> metadata = new HashMap<>();
        if (document.has("metadata")) {
          document
              .getAsJsonObject("metadata")
              .entrySet()
              .forEach(e -> metadata.put(e.getKey(), e.getValue().getAsString()));
        }
        conversation.addDocuments(
            Chat.document(string(document, "text"), string(document, "title"), metadata));
      }
    }
    if (step.has("template_variables")) {
      conversation.setTemplateVariables(step.get("template_variables").getAsString());
    }
    if (step.has("tool_results")) {
      JsonObject results = step.getAsJsonObject("tool_results");
      List<ToolCall> calls = replies.get(string(results, "for")).getToolCalls();
      JsonArray contents = results.getAsJsonArray("contents");
      if (calls.size() != contents.size()) {
        throw new IllegalStateException(
            "the step has " + contents.size() + " tool results for " + calls.size() + " calls");
      }
      for (int i = 0; i < calls.size(); i++) {
        conversation.addMessages(Chat.toolResult(calls.get(i), contents.get(i).getAsString()));
      }
    }
    return conversation.build();
  }

  private static String string(JsonObject step, String field) {
    return step.has(field) ? step.get(field).getAsString() : "";
  }

  private static JsonArray ints(List<Integer> values) {
    JsonArray array = new JsonArray();
    values.forEach(array::add);
    return array;
  }

  private void step(JsonObject step, JsonObject values) {
    if (step.get("call").getAsString().equals("RestartServer")) {
      restart(string(step, "server"));
      return;
    }
    JambaClient client = client(step);
    String session = expand(string(step, "session_id"));
    JsonArray wanted = step.has("record") ? step.getAsJsonArray("record") : new JsonArray();
    Recorder record =
        (key, value) -> {
          if (wanted.contains(new JsonPrimitive(key))) {
            values.add(key, value);
          }
        };
    Consumer<Session> recordSession =
        got -> {
          record.put("session_name", new JsonPrimitive(unexpandName(got.getName())));
          record.put("token_count", new JsonPrimitive(got.getTokenCount()));
        };
    switch (step.get("call").getAsString()) {
      case "CreateSession":
        {
          Session created = client.createSession(session);
          recordSession.accept(created);
          break;
        }
      case "AppendToSession":
        {
          Session updated =
              client.appendFile(
                  session,
                  dir.resolve(string(step, "text_file")),
                  AppendOptions.defaults().chunkBytes(step.get("chunk_bytes").getAsInt()));
          recordSession.accept(updated);
          break;
        }
      case "Generate":
        {
          ChatMessages conversation = conversation(step);
          boolean commit = step.has("commit") && step.get("commit").getAsBoolean();
          GenerateRequest.Builder request = GenerateRequest.newBuilder();
          if (step.has("session_id") && conversation != null) {
            request = Chat.sessionRequest(session, conversation, commit);
          } else if (step.has("session_id")) {
            SessionInput.Builder input =
                SessionInput.newBuilder()
                    .setSession(JambaClient.sessionName(session))
                    .setCommit(commit);
            if (step.has("text")) {
              input.setText(step.get("text").getAsString());
            }
            request.setSession(input);
          } else if (conversation != null) {
            request = Chat.request(conversation);
          } else if (step.has("prompt")) {
            request.setPrompt(step.get("prompt").getAsString());
          }
          if (step.has("tool_choice")) {
            JsonObject choice = step.getAsJsonObject("tool_choice");
            ToolChoice.Mode mode = ToolChoice.Mode.valueOf(string(choice, "mode"));
            request.setToolChoice(
                mode == ToolChoice.Mode.FUNCTION
                    ? Chat.forceTool(string(choice, "function"))
                    : ToolChoice.newBuilder().setMode(mode).build());
          }
          if (step.has("max_tokens")) {
            request.setMaxTokens(step.get("max_tokens").getAsInt());
          }
          SamplingParams.Builder sampling = SamplingParams.newBuilder();
          if (step.has("temperature")) {
            sampling.setTemperature(step.get("temperature").getAsFloat());
          }
          if (step.has("top_p")) {
            sampling.setTopP(step.get("top_p").getAsFloat());
          }
          if (step.has("seed")) {
            sampling.setSeed(step.get("seed").getAsLong());
          }
          request.setSampling(sampling);
          Completion completion = client.generate(request.build()).collect();
          if (conversation != null) {
            sentChats.put(step.get("name").getAsString(), conversation);
            replies.put(step.get("name").getAsString(), completion);
          }
          record.put("text", new JsonPrimitive(completion.getText()));
          record.put("reasoning", new JsonPrimitive(completion.getReasoning()));
          JsonArray calls = new JsonArray();
          for (ToolCall call : completion.getToolCalls()) {
            JsonObject c = new JsonObject();
            c.addProperty("id", call.getId());
            c.addProperty("name", call.getName());
            c.addProperty("arguments", call.getArguments());
            calls.add(c);
          }
          record.put("tool_calls", calls);
          record.put("malformed_tool_call", new JsonPrimitive(completion.isMalformedToolCall()));
          completion
              .getSession()
              .ifPresent(
                  s -> record.put("session_token_count", new JsonPrimitive(s.getTokenCount())));
          record.put("token_ids", ints(completion.getTokenIds()));
          record.put(
              "finish_reason", new JsonPrimitive(completion.getFinishReason().name()));
          Usage u = completion.getUsage();
          JsonObject usage = new JsonObject();
          usage.addProperty("prompt_tokens", u.getPromptTokens());
          usage.addProperty("restored_tokens", u.getRestoredTokens());
          usage.addProperty("recomputed_tokens", u.getRecomputedTokens());
          usage.addProperty("completion_tokens", u.getCompletionTokens());
          record.put("usage", usage);
          break;
        }
      case "ForkSession":
        {
          Session fork = client.forkSession(session, expand(string(step, "new_session_id")));
          recordSession.accept(fork);
          break;
        }
      case "ListCheckpoints":
        {
          List<Checkpoint> checkpoints = new ArrayList<>();
          int pages = listCheckpoints(client, session, checkpoints);
          JsonArray positions = new JsonArray();
          checkpoints.forEach(checkpoint -> positions.add(checkpoint.getTokenCount()));
          record.put("positions", positions);
          record.put("pages", new JsonPrimitive(pages));
          break;
        }
      case "RewindSession":
        {
          List<Checkpoint> checkpoints = new ArrayList<>();
          listCheckpoints(client, session, checkpoints);
          int index = checkpoints.size() - 1 - step.get("checkpoint_from_end").getAsInt();
          if (index < 0 || index >= checkpoints.size()) {
            throw new IllegalStateException(
                session + " has " + checkpoints.size() + " checkpoints");
          }
          Session rewound = client.rewindSession(session, checkpoints.get(index).getName());
          recordSession.accept(rewound);
          break;
        }
      case "ListSessions":
        {
          String idPrefix = expand(string(step, "session_id_prefix"));
          SessionPages pages = client.listSessions(step.get("page_size").getAsInt());
          JsonArray ids = new JsonArray();
          for (Session listed : pages) {
            String id = JambaClient.sessionId(listed.getName());
            if (id.startsWith(idPrefix)) {
              ids.add(unexpandId(id));
            }
          }
          record.put("session_ids", ids);
          record.put("pages", new JsonPrimitive(pages.pagesFetched()));
          break;
        }
      case "GetSession":
        {
          Session got = client.getSession(session);
          recordSession.accept(got);
          break;
        }
      case "DeleteSession":
        client.deleteSession(session);
        break;
      default:
        throw new IllegalArgumentException("unknown call " + step.get("call"));
    }
  }

  /** Fetches every page of a session's checkpoints into {@code into}; returns the page count. */
  private static int listCheckpoints(JambaClient client, String session, List<Checkpoint> into) {
    int pages = 0;
    String token = "";
    do {
      ListCheckpointsResponse page = client.listCheckpointsPage(session, 0, token);
      pages++;
      into.addAll(page.getCheckpointsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    return pages;
  }

  /** Adds a recorded value when the step asks for it. */
  private interface Recorder {
    void put(String key, JsonElement value);
  }
}
