import type { Command } from 'commander';
import { BerthError, ModelRef } from '../../core/index.js';
import type { ArtifactSignatureRecord } from '../../registry/index.js';
import type { SignatureReport } from '../../security/index.js';
import type { BerthClient } from '../client.js';
import type { CliContext } from '../context.js';
import { formatFields, formatTable, formatWhen, shortSha } from '../format.js';
import { collect, examples } from './options.js';

/** `berth sign` and `berth verify` */
export function addSignatureCommands(program: Command, ctx: CliContext): void {
  program
    .command('sign')
    .description("sign a version's artifact with a private key (Ed25519, ECDSA P-256 or RSA); only the signature and the public key leave this machine")
    .argument('<model@version>', 'the version to sign: name@3, name@alias or name (latest)')
    .requiredOption('--key <file>', 'private key, PEM (PKCS#8 or traditional) or DER PKCS#8')
    .option('--passphrase-env <var>', 'environment variable holding the passphrase of an encrypted key')
    .addHelpText(
      'after',
      examples(
        'berth sign fraud@3 --key signing.pem',
        '# signed fraud@3 (sha256 ab12cd34ef56…) with ed25519 key 1a2b3c4d5e6f…',
        '# a key pair: openssl genpkey -algorithm ed25519 -out signing.pem && openssl pkey -in signing.pem -pubout -out signing.pub.pem',
        'berth sign fraud@production --key release.pem --passphrase-env RELEASE_KEY_PASSPHRASE',
      ),
    )
    .action(async (refText: string, o: { key: string; passphraseEnv?: string }) => {
      // the file, not the folder's index: the index loads monitoring (≈ 170 ms against ≈ 10 ms), and a CLI run is mostly start-up
      const { readPrivateKeyFile, signArtifact } = await import('../../security/artifact-signing.js');
      let passphrase: string | undefined;
      if (o.passphraseEnv !== undefined) {
        passphrase = ctx.io.env[o.passphraseEnv];
        if (passphrase === undefined) {
          throw new BerthError('INVALID_ARGUMENT', `--passphrase-env: the environment variable ${o.passphraseEnv} is not set`, { field: 'passphrase-env', got: o.passphraseEnv });
        }
      }
      // read the key before touching the server: a wrong path should not cost a round trip
      const key = readPrivateKeyFile(o.key, passphrase);
      const client = await ctx.client();
      const { name, version } = await resolveRef(client, refText);
      const v = await client.getVersion(name, version);
      const signed = signArtifact(key, name, version, v.sha256);
      const result = await client.addSignature(name, version, {
        algorithm: signed.algorithm,
        signature: signed.signature,
        publicKey: signed.publicKey,
        keyId: signed.keyId,
      });
      ctx.print(result, () => {
        const what = `${name}@${version} (sha256 ${shortSha(v.sha256)}…) with ${signed.algorithm} key ${shortSha(signed.keyId)}…`;
        return result.changed ? `signed ${what}\n` : `already signed: ${what}; nothing new\n`;
      });
      const r = result.report;
      if (client.kind === 'local') {
        ctx.note(`(no server running: stored in the data dir ${client.where}; a server counts it once its artifacts.publicKeys lists this key's public half)`);
      } else if (!r.trusted && r.trustedKeys.length > 0) {
        ctx.note(`note: ${client.where} does not trust key ${shortSha(signed.keyId)}…; add its public half to the server's artifacts.publicKeys (openssl pkey -in ${o.key} -pubout)`);
      }
    });

  program
    .command('verify')
    .description("a version's signatures and whether each verifies against the trusted keys (the server's, or --trusted-key); fails unless one does")
    .argument('<model@version>', 'the version: name@3, name@alias or name (latest)')
    .option('--trusted-key <file>', 'judge against this public key (PEM) instead of the server\'s keys (repeatable)', collect)
    .addHelpText(
      'after',
      examples(
        'berth verify fraud@3',
        'berth verify fraud@production --json',
        'berth --local verify fraud@3 --trusted-key release.pub.pem   # no server: bring the keys',
      ),
    )
    .action(async (refText: string, o: { trustedKey?: string[] }) => {
      const client = await ctx.client();
      const { name, version } = await resolveRef(client, refText);
      let report = await client.signatures(name, version);
      let against = client.kind === 'remote' ? `the trusted keys of ${client.where}` : 'no trusted keys (no server; pass --trusted-key PUB.pem)';
      if (o.trustedKey && o.trustedKey.length > 0) {
        const [{ ArtifactTrust }, { readPublicKeyFile }] = await Promise.all([import('../../security/artifact-trust.js'), import('../../security/artifact-signing.js')]);
        const keys = o.trustedKey.map((f) => ({ key: readPublicKeyFile(f, '--trusted-key', 'INVALID_ARGUMENT'), source: f }));
        report = ArtifactTrust.fromKeys(keys, report.required).assess(name, version, report.sha256, report.signatures.map((s) => toRecord(report, s)));
        against = `the keys given with --trusted-key (${o.trustedKey.join(', ')})`;
      }
      ctx.print(report, () => renderSignatureReport(report, against, ctx.now()));
      if (!report.trusted && report.trustedKeys.length > 0) {
        throw new BerthError(
          'ARTIFACT_UNTRUSTED',
          `${name}@${version} has no valid signature by a trusted key${report.required ? ' and the server requires one: it will not be deployed or loaded' : ''}; sign it: berth sign ${name}@${version} --key PRIVATE.pem`,
          { model: name, version },
        );
      }
    });
}

/** `name@3`, `name@alias` or `name` (latest) to a version number, asking the client for aliases. */
async function resolveRef(client: BerthClient, text: string): Promise<{ name: string; version: number }> {
  const ref = ModelRef.parse(text);
  const sel = ref.selector;
  if (sel.kind === 'version') return { name: ref.name, version: sel.version };
  const model = await client.getModel(ref.name);
  if (sel.kind === 'alias') {
    const v = model.aliases[sel.alias];
    if (v === undefined) {
      const known = Object.keys(model.aliases);
      throw new BerthError('VERSION_NOT_FOUND', `model "${ref.name}" has no alias "${sel.alias}" (${known.length > 0 ? `its aliases are: ${known.join(', ')}` : 'it has no aliases'})`, {
        model: ref.name,
        field: 'alias',
        got: sel.alias,
      });
    }
    return { name: ref.name, version: v };
  }
  if (model.latestVersion === null) throw new BerthError('VERSION_NOT_FOUND', `model "${ref.name}" has no versions`, { model: ref.name });
  return { name: ref.name, version: model.latestVersion };
}

function toRecord(report: SignatureReport, s: SignatureReport['signatures'][number]): ArtifactSignatureRecord {
  return { model: report.model, version: report.version, keyId: s.keyId, algorithm: s.algorithm, signature: s.signature, signedAt: s.signedAt, signedAtMs: Date.parse(s.signedAt), signedBy: s.signedBy };
}

/** The human view of `berth verify`. */
export function renderSignatureReport(r: SignatureReport, against: string, now: number): string {
  const verdict = r.trusted ? 'TRUSTED: a trusted key signed this version' : r.trustedKeys.length === 0 ? 'not judged (no trusted keys)' : 'UNTRUSTED: no valid signature by a trusted key';
  const head = formatFields([
    ['version', `${r.model}@${r.version}`],
    ['sha256', r.sha256],
    ['required', r.required ? 'yes: unsigned versions are never deployed or loaded' : 'no'],
    ['checked against', against],
    ['verdict', verdict],
  ]);
  if (r.signatures.length === 0) return `${head}\nno signatures; sign it: berth sign ${r.model}@${r.version} --key PRIVATE.pem\n`;
  const rows = r.signatures.map((s) => [
    shortSha(s.keyId),
    s.algorithm,
    formatWhen(s.signedAt, now),
    s.signedBy,
    s.valid === true ? 'valid' : s.valid === false ? 'INVALID' : 'untrusted key',
    s.detail,
  ]);
  return `${head}\n${formatTable(['KEY', 'ALGORITHM', 'SIGNED', 'BY', 'STATUS', 'DETAIL'], rows)}`;
}
