// Options of JambaClient.appendText / appendFile: chunk size, chat role, etag and progress.
package ai.jamba.client;

import ai.jamba.v1.AppendProgress;
import ai.jamba.v1.ChatMessage;
import java.util.function.Consumer;

/** How to append text to a session. The defaults are fine; every setter returns {@code this}. */
public final class AppendOptions {
  int chunkBytes = 256 * 1024;
  ChatMessage.Role role = ChatMessage.Role.ROLE_UNSPECIFIED;
  String etag = "";
  int progressIntervalTokens;
  Consumer<AppendProgress> onProgress = progress -> {};

  public static AppendOptions defaults() {
    return new AppendOptions();
  }

  /** The largest text chunk sent (default 256 KiB); chunks end on UTF-8 character boundaries. */
  public AppendOptions chunkBytes(int bytes) {
    this.chunkBytes = bytes;
    return this;
  }

  /** USER makes the whole text one user chat message; unset (the default) appends raw text. */
  public AppendOptions role(ChatMessage.Role role) {
    this.role = role;
    return this;
  }

  /** Fail with ABORTED if the session's etag is no longer this one. */
  public AppendOptions etag(String etag) {
    this.etag = etag;
    return this;
  }

  /** Ask for a progress report every so many tokens (0: the server's default). */
  public AppendOptions progressIntervalTokens(int tokens) {
    this.progressIntervalTokens = tokens;
    return this;
  }

  /** Called with every progress report, in order, on a gRPC thread. */
  public AppendOptions onProgress(Consumer<AppendProgress> onProgress) {
    this.onProgress = onProgress;
    return this;
  }
}
