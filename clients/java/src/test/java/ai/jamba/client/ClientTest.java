// Unit tests of the Java client that need no server (run by ctest as java_client_unit_test).
package ai.jamba.client;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

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
    System.out.println(passes + " passed, " + failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }
}
