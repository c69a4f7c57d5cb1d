import { createContext, useContext } from 'react';
import type { WhoAmI } from '../../sdk/types.js';

export type Verb = 'read' | 'predict' | 'deploy' | 'admin';

/** Who is signed in, and what they may do (the server still checks every call). */
export interface Session {
  who: WhoAmI;
  can(verb: Verb, resource?: string): boolean;
  signOut(): void;
}

/** Whether scopes like `deploy:credit`, `read:*` or `admin` allow `verb` on `resource` (as the server decides). */
export function allows(scopes: readonly string[], verb: Verb, resource?: string): boolean {
  for (const s of scopes) {
    if (s === 'admin' || s === 'admin:*') return true;
    const i = s.indexOf(':');
    const v = i < 0 ? s : s.slice(0, i);
    const r = i < 0 ? '*' : s.slice(i + 1);
    if (v !== verb) continue;
    if (r === '*' || (resource !== undefined && r === resource)) return true;
  }
  return false;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the signed-in app');
  return s;
}
