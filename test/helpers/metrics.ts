/** Sum of a Prometheus sample family over the samples whose labels contain `match`. */
export function metricValue(text: string, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const labels: Record<string, string> = {};
    const m = /^\{(.*)\}\s/.exec(rest);
    if (m) for (const kv of m[1]!.matchAll(/(\w+)="([^"]*)"/g)) labels[kv[1]!] = kv[2]!;
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total += Number(line.trim().split(/\s+/).pop());
  }
  return total;
}
