/** Human output of the CLI: aligned tables, key–value blocks, sizes and times. */

/** Render rows as a table with a header, columns aligned on the widest cell (last column unpadded). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - displayWidth(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n') + '\n';
}

/** Render `[key, value]` pairs as an aligned block; values with newlines are indented. */
export function formatFields(pairs: [string, string][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return (
    pairs
      .map(([k, v]) => `${k.padEnd(width)}  ${v.split('\n').join('\n' + ' '.repeat(width + 2))}`.trimEnd())
      .join('\n') + '\n'
  );
}

function displayWidth(s: string): number {
  return [...s].length;
}

/** `43.7 kB`, `1.2 MB`, `812 B` (decimal units, as file managers show them). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** The first 12 hex digits of a sha256, enough to tell versions apart. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

/** `2026-11-17 14:03:12` in the local time zone. */
export function formatLocalTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `just now`, `42 seconds ago`, `3 hours ago`, `in 5 minutes`. */
export function formatRelative(ms: number, now: number): string {
  const diff = now - ms;
  const abs = Math.abs(diff);
  if (abs < 5_000) return 'just now';
  const steps: [number, string][] = [
    [60_000, 'second'],
    [3_600_000, 'minute'],
    [86_400_000, 'hour'],
    [30 * 86_400_000, 'day'],
    [365 * 86_400_000, 'month'],
    [Infinity, 'year'],
  ];
  const unitMs = [1000, 60_000, 3_600_000, 86_400_000, 30 * 86_400_000, 365 * 86_400_000];
  let i = 0;
  while (abs >= steps[i]![0]) i++;
  const n = Math.floor(abs / unitMs[i]!);
  const text = `${n} ${steps[i]![1]}${n === 1 ? '' : 's'}`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** `3 minutes ago (2026-11-17 14:03:12)` from an ISO time. */
export function formatWhen(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  return `${formatRelative(ms, now)} (${formatLocalTime(ms)})`;
}

/** `team=fraud, owner=ml` */
export function formatTags(tags: Record<string, string>): string {
  const entries = Object.entries(tags);
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** `42 s`, `3 min`, `5 h 2 min`, `2 d 4 h` */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** `7m 12s`, `10m`, `1h 5m`, `2d 4h`, `12s`: a short span, for countdowns (`next analysis in 7m 12s`). */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const two = (a: number, ua: string, b: number, ub: string): string => (b === 0 ? `${a}${ua}` : `${a}${ua} ${b}${ub}`);
  if (s < 60) return `${s}s`;
  if (s < 3600) return two(Math.floor(s / 60), 'm', s % 60, 's');
  if (s < 86_400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'm');
  return two(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
}

/** `12.5%`, `0.8%`, `100%` from a share in [0, 1]. */
export function formatPercent(share: number): string {
  const p = share * 100;
  return `${Number.isInteger(p) ? p : p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}
