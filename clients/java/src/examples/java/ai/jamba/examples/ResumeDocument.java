// The Java client end to end: `--step ingest` creates a session, streams a document into it with
// progress and asks a question (without committing it); `--step resume`, any later process (even
// after a server restart), asks another question of the stored session: its usage shows the
// document's tokens restored, not recomputed.
package ai.jamba.examples;

import ai.jamba.client.AppendOptions;
import ai.jamba.client.Completion;
import ai.jamba.client.GenerateStream;
import ai.jamba.client.JambaClient;
import ai.jamba.client.JambaException;
import ai.jamba.v1.GenerateRequest;
import ai.jamba.v1.SamplingParams;
import ai.jamba.v1.Session;
import ai.jamba.v1.SessionInput;
import ai.jamba.v1.Usage;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Usage: {@code java -jar jamba-examples.jar --step ingest|resume --server HOST:PORT --api-key KEY
 * --session ID [--document FILE] [--question Q] [--ca CA [--cert C --key K]]}. Without --ca the
 * connection is plaintext (a server on this machine). The key may also come from $JAMBA_API_KEY.
 */
public final class ResumeDocument {
  private ResumeDocument() {}

  public static void main(String[] args) {
    Map<String, String> flags = new HashMap<>();
    flags.put("server", "127.0.0.1:50051");
    flags.put("api-key", System.getenv().getOrDefault("JAMBA_API_KEY", ""));
    flags.put("session", "example-document");
    flags.put("question", "What is this document about?");
    for (int i = 0; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        usage();
      }
      flags.put(args[i].substring(2), args[i + 1]);
    }
    String step = flags.getOrDefault("step", "");
    if (!(step.equals("ingest") || step.equals("resume"))
        || (step.equals("ingest") && !flags.containsKey("document"))) {
      usage();
    }
    String session = flags.get("session");

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
      if (step.equals("ingest")) {
        client.createSession(session);
        Session stored =
            client.appendFile(
                session,
                Path.of(flags.get("document")),
                AppendOptions.defaults()
                    .chunkBytes(64 * 1024)
                    .onProgress(
                        p ->
                            System.err.printf(
                                "  %d bytes, %d/%d tokens processed%n",
                                p.getBytesReceived(),
                                p.getTokensProcessed(),
                                p.getTokensReceived())));
        System.out.printf("ingested %s: %d tokens%n", stored.getName(), stored.getTokenCount());
      } else {
        Session stored = client.getSession(session);
        System.out.printf("resuming %s: %d tokens%n", stored.getName(), stored.getTokenCount());
      }
      ask(client, session, flags.get("question"));
    } catch (JambaException e) {
      // The gRPC code and, when the server sent one, the stable reason to match on.
      System.err.printf(
          "error: %s: %s (reason: %s)%n",
          e.getCode(), e.getStatus().getDescription(), e.getReason());
      System.exit(1);
    }
  }

  /** Generates an answer from the session without committing it, printing it as it streams. */
  private static void ask(JambaClient client, String session, String question) {
    System.out.printf("Q: %s%nA:", question);
    GenerateRequest request =
        GenerateRequest.newBuilder()
            .setSession(
                SessionInput.newBuilder()
                    .setSession(JambaClient.sessionName(session))
                    .setText("\n\nQuestion: " + question + "\nAnswer:"))
            .setMaxTokens(48)
            .setSampling(SamplingParams.newBuilder().setTemperature(0.7f).setSeed(7))
            .build();
    try (GenerateStream stream = client.generate(request)) {
      Completion answer = stream.collect(text -> System.out.print(text));
      Usage u = answer.getUsage();
      System.out.printf(
          "%n[%s; %d prompt tokens: %d restored, %d computed; %d generated]%n",
          answer.getFinishReason(),
          u.getPromptTokens(),
          u.getRestoredTokens(),
          u.getRecomputedTokens(),
          u.getCompletionTokens());
    }
  }

  private static void usage() {
    System.err.println(
        "usage: resume-document --step ingest|resume --server HOST:PORT --api-key KEY"
            + " --session ID [--document FILE] [--question Q] [--ca CA [--cert C --key K]]");
    System.exit(2);
  }
}
