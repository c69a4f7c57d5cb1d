import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { BerthError } from '../core/index.js';
import type { BerthClient } from './client.js';
import { RemoteClient, probeServer } from './remote-client.js';

/** Where the CLI writes and what environment it reads; injectable so tests can run `main` in process. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
export const DEFAULT_DATA_DIR = '.berth';
/** how long the CLI waits for the default server before using the data dir */
export const PROBE_TIMEOUT_MS = 300;

/** The options every command takes. */
export interface GlobalOptions {
  server: string;
  dataDir: string;
  json: boolean;
  actor?: string;
  local: boolean;
  /** bearer token for the server (--token, else BERTH_TOKEN); never printed */
  token?: string;
}

/** Berth's version, from package.json (dist/cli → ../../package.json). */
export const CLI_VERSION: string = (() => {
  try {
    const here = path.dirname(fileURLToPath(import.meta.url));
    return (JSON.parse(readFileSync(path.join(here, '..', '..', 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/**
 * What a command needs besides its arguments: the global options, output, and a client chosen
 * once per invocation (a running server when one answers, else the data dir).
 */
export class CliContext {
  private chosen: Promise<BerthClient> | undefined;

  constructor(
    private readonly program: Command,
    readonly io: CliIo,
  ) {}

  get globals(): GlobalOptions {
    const o = this.program.opts<{ server?: string; dataDir?: string; json?: boolean; actor?: string; local?: boolean; token?: string }>();
    const token = o.token ?? (this.io.env['BERTH_TOKEN'] || undefined);
    return {
      server: o.server ?? this.io.env['BERTH_SERVER'] ?? DEFAULT_SERVER,
      dataDir: o.dataDir ?? this.io.env['BERTH_DATA_DIR'] ?? DEFAULT_DATA_DIR,
      json: o.json === true,
      ...(o.actor !== undefined ? { actor: o.actor } : {}),
      local: o.local === true,
      ...(token !== undefined ? { token } : {}),
    };
  }

  /** `--data-dir` or BERTH_DATA_DIR given (not the default)? */
  get dataDirExplicit(): boolean {
    return this.program.getOptionValueSource('dataDir') === 'cli' || !!this.io.env['BERTH_DATA_DIR'];
  }

  /** `--server` or BERTH_SERVER given (not the default)? */
  get serverExplicit(): boolean {
    return this.program.getOptionValueSource('server') === 'cli' || !!this.io.env['BERTH_SERVER'];
  }

  now(): number {
    return Date.now();
  }

  /** Machine output (`--json`: exactly the API's JSON) or the human rendering. */
  print(value: unknown, human: () => string): void {
    this.io.out(this.globals.json ? JSON.stringify(value, null, 2) + '\n' : human());
  }

  /** A line on stderr that is not the answer (hints, where a change went). */
  note(text: string): void {
    if (!this.globals.json) this.io.err(text + '\n');
  }

  /**
   * The client for this invocation. `--server URL` (or BERTH_SERVER): that server or
   * SERVER_UNREACHABLE. `--local`: the data dir. Otherwise the default server if it answers within
   * 300 ms (and, with an explicit data dir, serves that data dir), else the data dir.
   */
  client(opts: { needServer?: boolean } = {}): Promise<BerthClient> {
    this.chosen ??= this.choose();
    return this.chosen.then((c) => {
      if (opts.needServer && c.kind === 'local') {
        throw new BerthError(
          'SERVER_UNREACHABLE',
          `this command needs a running server and none answers at ${this.globals.server}; start one with \`berth serve\` (or pass --server URL)`,
        );
      }
      return c;
    });
  }

  async close(): Promise<void> {
    if (!this.chosen) return;
    const c = await this.chosen.catch(() => undefined);
    await c?.close();
  }

  private async choose(): Promise<BerthClient> {
    const g = this.globals;
    const actor = g.actor ?? osUser();
    if (g.local) return this.local(actor);
    if (this.serverExplicit) {
      // no probe: the first call answers SERVER_UNREACHABLE when nothing listens
      return new RemoteClient(normalizeUrl(g.server), actor, g.token);
    }
    const url = DEFAULT_SERVER;
    if (await probeServer(url, PROBE_TIMEOUT_MS)) {
      const remote = new RemoteClient(url, actor, g.token);
      if (!this.dataDirExplicit) return remote;
      // an explicit data dir wins over a server that keeps its registry elsewhere
      const status = await remote.status().catch(() => undefined);
      if (status?.dataDir && path.resolve(status.dataDir) === path.resolve(g.dataDir)) return remote;
    }
    return this.local(actor);
  }

  private async local(actor: string | undefined): Promise<BerthClient> {
    const { LocalClient } = await import('./local-client.js');
    return LocalClient.open(this.globals.dataDir, {
      ...(actor !== undefined ? { actor } : {}),
      version: CLI_VERSION,
      // the same registry the servers use: PostgreSQL and S3 when configured
      databaseUrl: this.io.env['BERTH_DATABASE_URL'] || null,
      artifactsUrl: this.io.env['BERTH_ARTIFACTS_URL'] || null,
    });
  }
}

function normalizeUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  try {
    const u = new URL(withScheme);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.toString().replace(/\/+$/, '');
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `--server: expected a URL like http://127.0.0.1:8080, got ${JSON.stringify(text)}`, {
      field: 'server',
      got: text,
    });
  }
}

function osUser(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}
