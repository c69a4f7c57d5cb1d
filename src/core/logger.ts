/** Minimal structured logger; one JSON line per event on stderr. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }, redact));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** Field names whose values never reach a log line, at any depth (headers, configs, errors). */
const SECRET_KEY = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|token|secret|password|passwd|api[-_]?key|admin[-_]?token|bearer|private[-_]?key|client[-_]?secret)$/i;
/** A Berth API token or a bearer credential inside a string (an error message quoting a header). */
const SECRET_TEXT = /\bberth_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}\b|\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}|\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|(rediss?|postgres(?:ql)?|nats|amqps?):\/\/[^\s:@/]*:[^\s@/]+@/g;

/** JSON.stringify replacer: secrets are redacted at the logger, whatever the call site passed. */
function redact(key: string, value: unknown): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== null && value !== undefined && value !== '') return '[redacted]';
  if (typeof value === 'string' && value.length >= 8) return value.replace(SECRET_TEXT, (m) => (m.includes('://') ? m.replace(/:\/\/[^@]*@/, '://[redacted]@') : '[redacted]'));
  return value;
}

export const silentLogger: Logger = createLogger('silent');
