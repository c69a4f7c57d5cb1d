import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import type { TlsConfig } from '../../src/core/index.js';
import { clientCertificateOf, createTransport } from '../../src/server/transport.js';
import { createTestCerts } from '../helpers/certs.js';
import type { TestCerts } from '../helpers/certs.js';

let certs: TestCerts;
let servers: Array<http.Server | https.Server> = [];

beforeAll(async () => {
  certs = await createTestCerts({ clientCommonName: 'ci-deployer' });
});
afterAll(() => certs.cleanup());
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  })));
  servers = [];
});

function tlsConfig(overrides: Partial<TlsConfig> = {}): TlsConfig {
  return { cert: certs.serverCert, key: certs.serverKey, clientCa: null, requireClientCert: false, clients: [], ...overrides };
}

/** Every request answers with the CN of its verified client certificate, or "-". */
function echoCertificate(req: IncomingMessage, res: ServerResponse): void {
  const cert = clientCertificateOf(req);
  res.writeHead(200, { 'content-type': 'text/plain' }).end(cert === null ? '-' : `${cert.commonName} ${cert.fingerprint256}`);
}

async function start(tls: TlsConfig): Promise<number> {
  const server = createTransport(echoCertificate, tls);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Identity {
  cert: string;
  key: string;
}

function get(port: number, identity: Identity | null = null, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host,
      port,
      path: '/',
      ca: readFileSync(certs.caCert),
      agent: false,
      ...(identity === null ? {} : { cert: readFileSync(identity.cert), key: readFileSync(identity.key) }),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const good = (): Identity => ({ cert: certs.clientCert, key: certs.clientKey });
const rogue = (): Identity => ({ cert: certs.rogueCert, key: certs.rogueKey });

describe('createTransport', () => {
  it('serves plain HTTP when no certificate is configured', async () => {
    const server = createTransport(echoCertificate, { cert: null, key: null, clientCa: null, requireClientCert: false, clients: [] });
    expect(server).toBeInstanceOf(http.Server);
    expect(server).not.toBeInstanceOf(https.Server);
  });

  it('serves HTTPS to a client that trusts the CA, by IP and by name', async () => {
    const port = await start(tlsConfig());
    expect(await get(port)).toEqual({ status: 200, body: '-' });
    expect(await get(port, null, 'localhost')).toEqual({ status: 200, body: '-' });
  });

  it('refuses a client that does not trust the CA', async () => {
    const port = await start(tlsConfig());
    const err = await new Promise<unknown>((resolve) => {
      https.get({ host: '127.0.0.1', port, agent: false }, () => resolve(null)).on('error', resolve);
    });
    expect((err as NodeJS.ErrnoException).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  it('never answers plain HTTP on the HTTPS port', async () => {
    const port = await start(tlsConfig());
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent: false }, (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    // Node drops the connection on the first byte that is not a TLS record: no HTTP answer at all.
    expect(outcome).not.toMatch(/^status/);
  });

  it('with a required client certificate, lets the CA-signed client through and names it', async () => {
    const port = await start(tlsConfig({ clientCa: certs.caCert, requireClientCert: true }));
    const res = await get(port, good());
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^ci-deployer ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('with a required client certificate, refuses clients without one or with a rogue one during the handshake', async () => {
    let served = 0;
    const server = createTransport((req, res) => {
      served++;
      echoCertificate(req, res);
    }, tlsConfig({ clientCa: certs.caCert, requireClientCert: true }));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    for (const identity of [null, rogue()]) {
      const err = await get(port, identity).then(() => null, (e: unknown) => e);
      expect(err, `client with ${identity === null ? 'no' : 'a rogue'} certificate`).toBeInstanceOf(Error);
      expect((err as NodeJS.ErrnoException).code).toMatch(/^(ERR_SSL_|ECONNRESET|EPIPE)/);
    }
    expect(served).toBe(0);
  });

  it('with an optional client certificate, names only clients whose certificate chains to the CA', async () => {
    const port = await start(tlsConfig({ clientCa: certs.caCert, requireClientCert: false }));
    expect((await get(port)).body).toBe('-');
    expect((await get(port, rogue())).body).toBe('-');
    expect((await get(port, good())).body).toMatch(/^ci-deployer /);
  });

  it('says which setting names a missing file, and where', () => {
    const missing = join(certs.dir, 'nope.pem');
    for (const field of ['cert', 'key', 'clientCa'] as const) {
      let err: unknown = null;
      try {
        createTransport(echoCertificate, tlsConfig({ [field]: missing }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('INVALID_CONFIG');
      expect((err as BerthError).message).toContain(`tls.${field}`);
      expect((err as BerthError).message).toContain(missing);
      expect((err as BerthError).message).toContain('ENOENT');
    }
  });

  it('refuses a key that does not belong to the certificate', () => {
    expect(() => createTransport(echoCertificate, tlsConfig({ key: certs.clientKey }))).toThrow(/tls\.key .*key belongs to the certificate/);
  });

  it('refuses a required client certificate without a CA to check it against', () => {
    expect(() => createTransport(echoCertificate, tlsConfig({ requireClientCert: true }))).toThrow(/tls\.clientCa/);
  });
});
