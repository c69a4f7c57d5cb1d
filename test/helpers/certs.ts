import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

const EC: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** PEM files of a throwaway PKI: a CA, a server and a client certificate signed by it, and a rogue self-signed client. */
export interface TestCerts {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  rogueCert: string;
  rogueKey: string;
  /** remove the directory */
  cleanup(): void;
}

export interface TestCertsOptions {
  /** common name of the good client certificate (default `ci-deployer`) */
  clientCommonName?: string;
  /** common name of the rogue certificate (default: the same as the good client, so only the chain tells them apart) */
  rogueCommonName?: string;
}

interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * 3_600_000) };
}

function newKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function selfSigned(name: string, ca: boolean, usage: x509.ExtendedKeyUsage | null): Promise<Issued> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = ca
    ? [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      ]
    : [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)];
  if (usage !== null) extensions.push(new x509.ExtendedKeyUsageExtension([usage]));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    keys,
    signingAlgorithm: SIGNING,
    extensions,
    ...validity(),
  });
  return { cert, keys };
}

async function issue(ca: Issued, name: string, usage: x509.ExtendedKeyUsage, altNames: x509.JsonGeneralNames = []): Promise<Issued> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING,
    extensions,
    ...validity(),
  });
  return { cert, keys };
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and without a leading zero byte
  return Buffer.from(bytes).toString('hex');
}

/**
 * Generate the test PKI with ECDSA P-256 keys (a few milliseconds) and write it as PEM files to a new
 * temp directory. The server certificate is valid for 127.0.0.1 and localhost.
 */
export async function createTestCerts(options: TestCertsOptions = {}): Promise<TestCerts> {
  const clientName = options.clientCommonName ?? 'ci-deployer';
  const ca = await selfSigned('CN=Berth Test CA', true, null);
  const server = await issue(ca, 'CN=localhost', x509.ExtendedKeyUsage.serverAuth, [
    { type: 'ip', value: '127.0.0.1' },
    { type: 'dns', value: 'localhost' },
  ]);
  const client = await issue(ca, `CN=${clientName}`, x509.ExtendedKeyUsage.clientAuth);
  const rogue = await selfSigned(`CN=${options.rogueCommonName ?? clientName}`, false, x509.ExtendedKeyUsage.clientAuth);

  const dir = mkdtempSync(join(tmpdir(), 'berth-certs-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  return {
    dir,
    caCert: write('ca.pem', ca.cert.toString('pem')),
    serverCert: write('server.pem', server.cert.toString('pem')),
    serverKey: write('server-key.pem', await keyPem(server.keys)),
    clientCert: write('client.pem', client.cert.toString('pem')),
    clientKey: write('client-key.pem', await keyPem(client.keys)),
    rogueCert: write('rogue.pem', rogue.cert.toString('pem')),
    rogueKey: write('rogue-key.pem', await keyPem(rogue.keys)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
