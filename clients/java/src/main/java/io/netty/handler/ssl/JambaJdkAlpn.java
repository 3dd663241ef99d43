// JDK (Java 9+) ALPN for netty client contexts, for Debian 12's libnetty-java 4.1.48, which is
// built without netty's JdkAlpn* classes: there, building any JDK-provider context with ALPN
// (as grpc-netty does for TLS) fails with "JDK provider does not support ALPN protocol". The
// JDK's own ALPN still works through Java9SslEngine, which Debian's jar keeps; this class lives in
// netty's package because that engine and the negotiator base are package-private.
package io.netty.handler.ssl;

import io.netty.handler.codec.http2.Http2SecurityUtil;
import java.io.File;
import javax.net.ssl.SSLException;

/** A client SslContext negotiating HTTP/2 with the JDK's ALPN. Used only where netty's fails. */
public final class JambaJdkAlpn {
  private JambaJdkAlpn() {}

  /**
   * A client context trusting the PEM CAs in {@code trustCertCollection} (null: the JDK's trusted
   * CAs), with a client certificate chain and PKCS#8 key (both null: none).
   */
  @SuppressWarnings("deprecation") // the one public JdkSslClientContext taking a negotiator
  public static SslContext clientContext(File trustCertCollection, File certChain, File key)
      throws SSLException {
    JdkApplicationProtocolNegotiator alpn =
        new JdkBaseApplicationProtocolNegotiator(
            (engine, negotiator, isServer) -> new Java9SslEngine(engine, negotiator, isServer),
            JdkBaseApplicationProtocolNegotiator.FAIL_SELECTOR_FACTORY,
            JdkBaseApplicationProtocolNegotiator.FAIL_SELECTION_LISTENER_FACTORY,
            ApplicationProtocolNames.HTTP_2);
    return new JdkSslClientContext(
        trustCertCollection,
        null,
        certChain,
        key,
        null,
        null,
        Http2SecurityUtil.CIPHERS,
        SupportedCipherSuiteFilter.INSTANCE,
        alpn,
        0,
        0);
  }
}
