// Unit tests of the Java client (run by ctest as java_client_test): chunking, names and error
// decoding; and, against an in-process fake jambad (FakeJambad), chat requests and replies
// (reasoning and tool calls apart), the chat builders' errors, the x-jamba-session routing
// metadata and the retry of calls the server refused (UNAVAILABLE with RetryInfo).
package ai.jamba.client;

import ai.jamba.v1.ChatMessage;
import ai.jamba.v1.ChatMessages;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.SessionInput;
import ai.jamba.v1.Tool;
import ai.jamba.v1.ToolChoice;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A dependency-free test main: prints one line per check and exits 1 if any failed. */
public final class ClientTest {
  private static int passes;
  private static int failures;

  private ClientTest() {}

  private static void check(boolean ok, String what) {
    System.out.println((ok ? "ok   " : "FAIL ") + what);
    if (ok) {
      passes++;
    } else {
      failures++;
    }
  }

  private static List<String> chunks(String text, int maxBytes) throws IOException {
    Utf8Chunker chunker =
        new Utf8Chunker(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), maxBytes);
    List<String> out = new ArrayList<>();
    for (String chunk = chunker.next(); chunk != null; chunk = chunker.next()) {
      out.add(chunk);
    }
    return out;
  }

  private static JambaClient client(FakeJambad fake, int maxRetries) {
    return JambaClient.newBuilder(fake.address())
        .plaintext()
        .callTimeout(Duration.ofSeconds(10))
        .maxRetries(maxRetries)
        .build();
  }

  /** True if {@code body} throws an IllegalArgumentException whose message has {@code text}. */
  private static boolean refuses(Runnable body, String text) {
    try {
      body.run();
      return false;
    } catch (IllegalArgumentException e) {
      return e.getMessage().contains(text);
    }
  }

  /** The code of the JambaException {@code body} throws, or null. */
  private static io.grpc.Status.Code codeOf(Runnable body) {
    try {
      body.run();
      return null;
    } catch (JambaException e) {
      return e.getCode();
    }
  }

  private static void chatTests() throws IOException {
    try (FakeJambad fake = new FakeJambad();
        JambaClient client = client(fake, JambaClient.DEFAULT_MAX_RETRIES)) {
      Tool weather = Chat.tool("get_weather", "The weather", Map.of("type", "object"));
      ChatMessages chat =
          ChatMessages.newBuilder()
              .addMessages(Chat.system("Be brief."))
              .addMessages(Chat.user("Paris?"))
              .addTools(weather)
              .addDocuments(Chat.document("Revenue grew.", "Q3", Map.of("author", "Finance")))
              .setTemplateVariables(Chat.templateVariables(Map.of("enable_thinking", false)))
              .build();
      Completion reply =
          client.generate(Chat.request(chat).setToolChoice(Chat.forceTool("get_weather")).build())
              .collect();
      GenerateRequest sent = fake.lastGenerateRequest;
      check(
          sent.getMessages().getMessages(0).getRole() == ChatMessage.Role.SYSTEM
              && sent.getMessages().getTools(0).getParameters().equals("{\"type\":\"object\"}")
              && sent.getMessages().getDocuments(0).getMetadataMap().get("author").equals("Finance")
              && sent.getMessages().getTemplateVariables().equals("{\"enable_thinking\":false}"),
          "a chat request carries its messages, tools, documents and template variables");
      check(
          sent.getToolChoice().getMode() == ToolChoice.Mode.FUNCTION
              && sent.getToolChoice().getFunction().equals("get_weather"),
          "the tool choice is sent");
      check(
          reply.getReasoning().equals("The user wants the weather.")
              && reply.getText().equals("Checking.")
              && reply.getToolCalls().size() == 1
              && reply.getToolCalls().get(0).getArguments().equals("{\"city\": \"Paris\"}")
              && !reply.isMalformedToolCall(),
          "the completion keeps reasoning, tool calls and answer apart");
      List<String> reasoning = new ArrayList<>();
      client
          .generate(Chat.request(chat).build())
          .collectDeltas(
              delta -> {
                if (!delta.getReasoning().isEmpty()) {
                  reasoning.add(delta.getReasoning());
                }
              });
      check(
          reasoning.equals(List.of("The user wants ", "the weather.")),
          "reasoning arrives delta by delta");
      ChatMessage assistant = reply.assistantMessage();
      ChatMessage result = Chat.toolResult(reply.getToolCalls().get(0), "22 degrees");
      check(
          assistant.getRole() == ChatMessage.Role.ASSISTANT
              && assistant.getContent().equals("Checking.")
              && assistant.getReasoning().equals(reply.getReasoning())
              && assistant.getToolCallsCount() == 1
              && result.getRole() == ChatMessage.Role.TOOL
              && result.getToolCallId().equals("call_1")
              && result.getName().equals("get_weather"),
          "the reply goes back as the assistant turn, then the tool result");
      ChatMessages malformed =
          ChatMessages.newBuilder().addMessages(Chat.user("malformed")).build();
      check(
          client.generate(Chat.request(malformed).build()).collect().isMalformedToolCall(),
          "the malformed flag");
      GenerateRequest session = Chat.sessionRequest("agent", chat, true).build();
      check(
          session.getSession().getSession().equals("sessions/agent")
              && session.getSession().getCommit(),
          "a session chat request");
    }
    check(refuses(() -> Chat.tool("f", "", "[1, 2]"), "must be a JSON object"), "array schema");
    check(refuses(() -> Chat.tool("f", "", "{type: 1"), "not valid JSON"), "broken schema");
    check(refuses(() -> Chat.tool("", "", ""), "needs a name"), "a tool without a name");
    check(refuses(() -> Chat.parseToolChoice(""), "a tool choice"), "an empty tool choice");
    check(Chat.parseToolChoice("Required").getMode() == ToolChoice.Mode.REQUIRED, "required");
    check(Chat.parseToolChoice("f").getFunction().equals("f"), "a tool's name forces it");
    check(
        refuses(() -> Chat.toolResult(ai.jamba.v1.ToolCall.getDefaultInstance(), "x"), "id"),
        "a tool result without a call id");
    check(
        refuses(() -> JambaClient.newBuilder("x").maxRetries(-1), "negative"),
        "a negative retry count");
  }

  private static void routingAndRetryTests() throws IOException {
    try (FakeJambad fake = new FakeJambad();
        JambaClient client = client(fake, JambaClient.DEFAULT_MAX_RETRIES)) {
      client.createSession("doc");
      client.createSession(""); // the server picks the id: nothing to route by
      client.getSession("sessions/doc");
      client.deleteSession("doc");
      client.listCheckpoints("doc");
      client.forkSession("doc", "draft");
      client.rewindSession("draft", "sessions/draft/checkpoints/1");
      InputStream text = new ByteArrayInputStream("some text".getBytes(StandardCharsets.UTF_8));
      client.appendText("doc", text, AppendOptions.defaults());
      client
          .generate(
              GenerateRequest.newBuilder()
                  .setSession(SessionInput.newBuilder().setSession("sessions/doc"))
                  .build())
          .collect();
      client.generate(GenerateRequest.newBuilder().setPrompt("hi").build()).collect();
      client.listSessions(0).iterator().hasNext();
      check(
          fake.sessions("CreateSession").equals(List.of("sessions/doc", "(none)")),
          "CreateSession names the id asked for");
      for (String method :
          List.of(
              "GetSession", "DeleteSession", "ListCheckpoints", "ForkSession", "AppendToSession")) {
        check(fake.sessions(method).equals(List.of("sessions/doc")), method + " names its session");
      }
      check(fake.sessions("RewindSession").equals(List.of("sessions/draft")), "RewindSession");
      check(
          fake.sessions("Generate").equals(List.of("sessions/doc", "(none)")),
          "a generation names its session, a stateless one none");
      check(fake.sessions("ListSessions").equals(List.of("(none)")), "ListSessions names none");

      fake.refuse("ForkSession", 2);
      long start = System.nanoTime();
      check(
          client.forkSession("doc", "draft").getName().equals("sessions/draft")
              && fake.count("ForkSession") == 4
              && System.nanoTime() - start >= 2 * FakeJambad.RETRY_DELAY_MILLIS * 1_000_000,
          "a refused call is retried after the delay");
      fake.refuse("GetSession", 10);
      check(
          codeOf(() -> client.getSession("doc")) == io.grpc.Status.Code.UNAVAILABLE
              && fake.count("GetSession") == 2 + JambaClient.DEFAULT_MAX_RETRIES,
          "retries are bounded");
      fake.refuse("GetSession", 0);
      fake.refuseWithoutRetryInfo = true;
      fake.refuse("GetSession", 2);
      check(
          codeOf(() -> client.getSession("doc")) == io.grpc.Status.Code.UNAVAILABLE
              && fake.count("GetSession") == 3 + JambaClient.DEFAULT_MAX_RETRIES,
          "UNAVAILABLE without RetryInfo is not retried");
      fake.refuseWithoutRetryInfo = false;
      fake.refuse("GetSession", 0);

      fake.refuse("Generate", 2);
      Completion completion =
          client
              .generate(
                  GenerateRequest.newBuilder()
                      .setSession(SessionInput.newBuilder().setSession("doc").setCommit(true))
                      .build())
              .collect();
      check(
          completion.getText().equals("Hello") && fake.count("Generate") == 5,
          "a generation refused before its first response is retried");
      check(
          codeOf(
                      () ->
                          client
                              .generate(
                                  GenerateRequest.newBuilder()
                                      .setPrompt("unavailable midway")
                                      .build())
                              .collect())
                  == io.grpc.Status.Code.UNAVAILABLE
              && fake.count("Generate") == 6,
          "a generation is not retried after a response");

      String document = "ünïcödé text ".repeat(20);
      Path file = Files.createTempFile("jamba-client-test", ".txt");
      try {
        Files.writeString(file, document);
        fake.refuse("AppendToSession", 2);
        client.appendFile("doc", file, AppendOptions.defaults().chunkBytes(16));
        check(
            String.join("", fake.appended).equals(document) && fake.count("AppendToSession") == 4,
            "a refused appendFile is sent again from the start");
        fake.refuseAppendsAfterAChunk = 1;
        client.appendFile("doc", file, AppendOptions.defaults().chunkBytes(16));
        check(
            String.join("", fake.appended).equals(document) && fake.count("AppendToSession") == 6,
            "a file is read again after a refusal that came once a chunk was sent");
      } finally {
        Files.delete(file);
      }
      fake.refuseAppendsAfterAChunk = 1;
      InputStream oneShot = new ByteArrayInputStream(document.getBytes(StandardCharsets.UTF_8));
      check(
          codeOf(() -> client.appendText("doc", oneShot, AppendOptions.defaults().chunkBytes(16)))
                  == io.grpc.Status.Code.UNAVAILABLE
              && fake.count("AppendToSession") == 7,
          "a stream some text was read from is not sent again");
    }
    try (FakeJambad fake = new FakeJambad();
        JambaClient once = client(fake, 0)) {
      fake.refuse("GetSession", 1);
      check(
          codeOf(() -> once.getSession("doc")) == io.grpc.Status.Code.UNAVAILABLE
              && fake.count("GetSession") == 1,
          "maxRetries(0) turns retries off");
    }
    try (FakeJambad fake = new FakeJambad();
        JambaClient hurried =
            JambaClient.newBuilder(fake.address())
                .plaintext()
                .callTimeout(Duration.ofMillis(FakeJambad.RETRY_DELAY_MILLIS / 2))
                .build()) {
      try {
        hurried.getSession("warm-up");
      } catch (JambaException e) {
        // connecting may take longer than the short deadline; the call below counts
      }
      fake.refuse("GetSession", 1);
      int before = fake.count("GetSession");
      check(
          codeOf(() -> hurried.getSession("doc")) != null
              && fake.count("GetSession") <= before + 1,
          "no retry past the deadline");
    }
  }

  public static void main(String[] args) throws IOException {
    String text = "héllo wörld — ∑ 𝄞 ".repeat(50);
    boolean joined = true;
    boolean bounded = true;
    for (int max = 4; max <= 40; max++) {
      List<String> got = chunks(text, max);
      joined &= String.join("", got).equals(text);
      for (String chunk : got) {
        int bytes = chunk.getBytes(StandardCharsets.UTF_8).length;
        bounded &= bytes > 0 && bytes <= max;
      }
    }
    check(joined, "chunks add up to the text");
    check(bounded, "every chunk is 1..max bytes of whole characters");
    check(chunks("", 16).isEmpty(), "empty input has no chunks");
    boolean rejected = false;
    try {
      chunks("ab\u00e9", 16); // fine
      new Utf8Chunker(new ByteArrayInputStream(new byte[] {'a', (byte) 0xff, 'b'}), 16).next();
    } catch (IOException e) {
      rejected = true;
    }
    check(rejected, "malformed UTF-8 is an error");
    check(JambaClient.sessionName("notes").equals("sessions/notes"), "sessionName of an id");
    check(
        JambaClient.sessionName("sessions/notes").equals("sessions/notes"),
        "sessionName of a name");
    check(JambaClient.sessionId("sessions/notes").equals("notes"), "sessionId");
    JambaException notFound =
        JambaException.from(io.grpc.Status.NOT_FOUND.withDescription("x").asRuntimeException());
    check(notFound.getCode() == io.grpc.Status.Code.NOT_FOUND, "JambaException keeps the code");
    check(notFound.getReason().isEmpty(), "no details, no reason");
    com.google.rpc.Status details =
        com.google.rpc.Status.newBuilder()
            .setCode(io.grpc.Status.Code.NOT_FOUND.value())
            .setMessage("session \"x\" not found")
            .addDetails(
                com.google.protobuf.Any.pack(
                    com.google.rpc.ErrorInfo.newBuilder()
                        .setReason("SESSION_NOT_FOUND")
                        .setDomain("jamba.ai")
                        .build()))
            .addDetails(
                com.google.protobuf.Any.pack(
                    com.google.rpc.ResourceInfo.newBuilder()
                        .setResourceType("jamba.v1.Session")
                        .setResourceName("sessions/x")
                        .build()))
            .build();
    JambaException decoded =
        JambaException.from(io.grpc.protobuf.StatusProto.toStatusRuntimeException(details));
    check(decoded.getCode() == io.grpc.Status.Code.NOT_FOUND, "code from a details trailer");
    check(decoded.getReason().equals("SESSION_NOT_FOUND"), "ErrorInfo.reason decoded");
    check(
        decoded.getResourceInfo().map(r -> r.getResourceName()).orElse("").equals("sessions/x"),
        "ResourceInfo decoded");
    chatTests();
    routingAndRetryTests();
    System.out.println(passes + " passed, " + failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }
}
