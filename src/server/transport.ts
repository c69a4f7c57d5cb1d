import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from 'node:https';
import { TLSSocket } from 'node:tls';
import { BerthError } from '../core/index.js';
import type { TlsConfig } from '../core/index.js';
import { peerCertificateFrom } from '../security/index.js';

/** Who presented a client certificate that chains to `tls.clientCa`. */
export interface ClientCertificate {
  /** the subject's common name, matched against `tls.clients[].commonName` */
  readonly commonName: string;
  /** SHA-256 fingerprint, `AB:CD:…`, for logs and the audit trail */
  readonly fingerprint256: string;
}

/**
 * The listening server for `handler`: plain HTTP when `tls.cert` is null, otherwise HTTPS (TLS 1.2+)
 * with the configured certificate and key. With `tls.clientCa`, clients are asked for a certificate;
 * `tls.requireClientCert` refuses, during the handshake, those without one that chains to that CA.
 * Throws INVALID_CONFIG naming the setting and the file when a file cannot be read or used.
 * Fits Fastify's `serverFactory`.
 *
 * @example
 * const server = createTransport(handler, config.tls);
 * server.listen(8443, '0.0.0.0');
 */
export function createTransport(handler: RequestListener, tls: TlsConfig): HttpServer | HttpsServer {
  if (tls.cert === null) {
    for (const [field, value] of [['tls.key', tls.key], ['tls.clientCa', tls.clientCa]] as const) {
      if (value !== null) throw invalid(`${field} is set but tls.cert is not; set tls.cert to the server certificate (PEM) to serve HTTPS, or unset ${field}`, field);
    }
    if (tls.requireClientCert) throw invalid('tls.requireClientCert needs HTTPS; set tls.cert, tls.key and tls.clientCa', 'tls.requireClientCert');
    return createHttpServer(handler);
  }
  if (tls.key === null) throw invalid(`tls.key is not set; HTTPS with tls.cert (${tls.cert}) needs the matching private key (PEM)`, 'tls.key');
  if (tls.requireClientCert && tls.clientCa === null) {
    throw invalid('tls.requireClientCert is set but tls.clientCa is not; set tls.clientCa to the CA bundle (PEM) client certificates must chain to', 'tls.requireClientCert');
  }
  const options: HttpsServerOptions = {
    cert: readPem(tls.cert, 'tls.cert', 'the server certificate'),
    key: readPem(tls.key, 'tls.key', 'the private key of tls.cert'),
    minVersion: 'TLSv1.2',
  };
  if (tls.clientCa !== null) {
    options.ca = readPem(tls.clientCa, 'tls.clientCa', 'the CA bundle client certificates must chain to');
    options.requestCert = true;
    options.rejectUnauthorized = tls.requireClientCert;
  }
  try {
    return createHttpsServer(options, handler);
  } catch (err) {
    // Readable files that Node cannot use: not PEM, a key that does not match the certificate, a bad CA bundle.
    const files = [`tls.cert (${tls.cert})`, `tls.key (${tls.key})`, ...(tls.clientCa === null ? [] : [`tls.clientCa (${tls.clientCa})`])];
    throw new BerthError('INVALID_CONFIG', `cannot serve HTTPS with ${files.join(', ')}: ${err instanceof Error ? err.message : String(err)}; check they are PEM and that the key belongs to the certificate`, {
      field: 'tls.cert',
    }, { cause: err });
  }
}

/**
 * The client certificate of `req`, only when one was presented and it chains to `tls.clientCa`
 * (a certificate that does not is treated as none: null).
 */
export function clientCertificateOf(req: IncomingMessage): ClientCertificate | null {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  return peerCertificateFrom(socket.getPeerCertificate());
}

function readPem(path: string, field: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new BerthError('INVALID_CONFIG', `${field}: cannot read ${what} from "${path}" (${reason}); check the path and that Berth may read it, or unset ${field}`, {
      field,
      got: path,
    }, { cause: err });
  }
}

function invalid(message: string, field: string): BerthError {
  return new BerthError('INVALID_CONFIG', message, { field });
}
