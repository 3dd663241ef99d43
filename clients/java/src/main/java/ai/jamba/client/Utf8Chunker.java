// Splits a UTF-8 byte stream into text chunks that end on character boundaries, for
// AppendToSession (each chunk is a proto string and must be whole characters).
package ai.jamba.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Reads text chunks of at most {@code maxBytes} UTF-8 bytes each; malformed input is an error. */
final class Utf8Chunker {
  private final InputStream in;
  private final byte[] buffer;
  private final CharsetDecoder decoder =
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);
  private int buffered;
  private boolean eof;

  Utf8Chunker(InputStream in, int maxBytes) {
    if (maxBytes < 4) {
      throw new IllegalArgumentException("chunk size must be at least 4 bytes (one character)");
    }
    this.in = in;
    this.buffer = new byte[maxBytes];
  }

  /** The next chunk, or null after the last one. */
  String next() throws IOException {
    while (!eof && buffered < buffer.length) {
      int n = in.read(buffer, buffered, buffer.length - buffered);
      if (n < 0) {
        eof = true;
      } else {
        buffered += n;
      }
    }
    if (buffered == 0) {
      return null;
    }
    int cut = eof ? buffered : lastBoundary(buffer, buffered);
    String chunk = decode(buffer, cut);
    System.arraycopy(buffer, cut, buffer, 0, buffered - cut);
    buffered -= cut;
    return chunk;
  }

  private String decode(byte[] bytes, int length) throws CharacterCodingException {
    CharBuffer chars = decoder.reset().decode(ByteBuffer.wrap(bytes, 0, length));
    return chars.toString();
  }

  /** The length of the longest prefix of b[0, length) that does not end inside a character. */
  static int lastBoundary(byte[] b, int length) {
    for (int i = length - 1; i >= 0 && i >= length - 4; i--) {
      int lead = b[i] & 0xff;
      if ((lead & 0xc0) != 0x80) { // not a continuation byte: a character starts here
        int size = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        return length - i >= size ? length : i;
      }
    }
    return length;
  }
}
