import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Git facts about the directory a model file was registered from. */
export interface GitInfo {
  commit: string;
  /** absent when `git status` could not answer in time (a huge work tree) */
  dirty?: boolean;
  remote?: string;
}

/**
 * Read the commit, dirtiness and origin URL of the git work tree containing `dir`, or undefined
 * when it is not in one (or git is missing, or slow: each call is capped at `timeoutMs`).
 */
export async function readGitInfo(dir: string, timeoutMs = 2000): Promise<GitInfo | undefined> {
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await exec('git', ['-C', dir, ...args], { timeout: timeoutMs, windowsHide: true, maxBuffer: 4 * 1024 * 1024 });
      return stdout.trim();
    } catch {
      return undefined;
    }
  };
  const commit = await git('rev-parse', 'HEAD');
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  const [status, remote] = await Promise.all([git('status', '--porcelain'), git('remote', 'get-url', 'origin')]);
  const info: GitInfo = { commit };
  if (status !== undefined) info.dirty = status.length > 0;
  if (remote) info.remote = redactCredentials(remote);
  return info;
}

/** The OS user name, or undefined where the platform has none (some containers). */
export function currentUserName(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** `https://user:token@host/repo` must not end up in the registry. */
function redactCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
