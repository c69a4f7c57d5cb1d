import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api.js';

export interface Loaded<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload(): void;
}

/**
 * GET `path` (and again every `refreshMs`, when given). Marks `berth:data:<key>` with the Performance
 * API when the answer arrives and `berth:render:<key>` after the next paint, so tests can read how
 * long a page took to render its data.
 */
export function useApi<T>(path: string | null, opts: { refreshMs?: number; mark?: string } = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | Error | null; loading: boolean }>({ data: null, error: null, loading: path !== null });
  const [tick, setTick] = useState(0);
  const mark = useRef(opts.mark);
  mark.current = opts.mark;
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    api<T>(path, { signal: ctl.signal }).then(
      (data) => {
        const m = mark.current;
        if (m) performance.mark(`berth:data:${m}`);
        setState({ data, error: null, loading: false });
        if (m) requestAnimationFrame(() => setTimeout(() => performance.mark(`berth:render:${m}`), 0));
      },
      (error: unknown) => {
        if (ctl.signal.aborted) return;
        setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
    return () => ctl.abort();
  }, [path, tick]);
  useEffect(() => {
    if (!opts.refreshMs || path === null) return;
    const t = setInterval(() => setTick((x) => x + 1), opts.refreshMs);
    return () => clearInterval(t);
  }, [opts.refreshMs, path]);
  const reload = useCallback(() => setTick((x) => x + 1), []);
  return { ...state, reload };
}
