/**
 * The dashboard's client for the management API: fetch with the session's token, JSON in and out,
 * and the server's error answer (code, field, message) as an ApiError. A 401 tells the app to ask
 * for a token again.
 */
const TOKEN_KEY = 'berth.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // private mode: the token lives as long as the page
  }
}

/** Heard when the server answers 401: the token is missing, expired or revoked. */
export const UNAUTHENTICATED_EVENT = 'berth:unauthenticated';

export async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string | null; signal?: AbortSignal } = {}): Promise<T> {
  const token = init.token !== undefined ? init.token : storedToken();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (!res.ok) {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { code?: string; error?: string; field?: string };
    if (res.status === 401) window.dispatchEvent(new Event(UNAUTHENTICATED_EVENT));
    throw new ApiError(res.status, b.code ?? `HTTP_${res.status}`, b.error ?? (typeof body === 'string' ? body : res.statusText), b.field);
  }
  return body as T;
}

/** `encodeURIComponent` for each path part. */
export function path(...parts: (string | number)[]): string {
  return parts.map((p) => encodeURIComponent(String(p))).join('/');
}
