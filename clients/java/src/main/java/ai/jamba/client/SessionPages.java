// ListSessions as an Iterable that fetches pages lazily while it is iterated.
package ai.jamba.client;

import ai.jamba.v1.ListSessionsResponse;
import ai.jamba.v1.Session;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/** The tenant's sessions, newest first; iterate once. Iteration throws {@link JambaException}. */
public final class SessionPages implements Iterable<Session> {
  private final JambaClient client;
  private final int pageSize;
  private int pages;

  SessionPages(JambaClient client, int pageSize) {
    this.client = client;
    this.pageSize = pageSize;
  }

  /** The number of pages fetched so far. */
  public int pagesFetched() {
    return pages;
  }

  public Stream<Session> stream() {
    return StreamSupport.stream(
        Spliterators.spliteratorUnknownSize(iterator(), Spliterator.ORDERED), false);
  }

  @Override
  public Iterator<Session> iterator() {
    return new Iterator<>() {
      private final Deque<Session> page = new ArrayDeque<>();
      private String token = "";
      private boolean last;

      @Override
      public boolean hasNext() {
        while (page.isEmpty() && !last) {
          ListSessionsResponse response = client.listSessionsPage(pageSize, token);
          pages++;
          page.addAll(response.getSessionsList());
          token = response.getNextPageToken();
          last = token.isEmpty();
        }
        return !page.isEmpty();
      }

      @Override
      public Session next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        return page.removeFirst();
      }
    };
  }
}
