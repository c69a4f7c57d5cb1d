import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('the logger', () => {
  it('redacts secrets whatever the call site passed: secret-named fields at any depth, tokens and passwords inside strings', () => {
    const lines: string[] = [];
    const log = createLogger('debug', (l) => lines.push(l));
    const token = 'berth_abcdefghijkm_' + 'S'.repeat(43);
    log.warn('request refused', {
      headers: { authorization: 'Bearer abcdefgh12345678', host: 'localhost' },
      error: `token ${token} is wrong`,
      redis: 'redis://user:hunter2hunter2@cache:6379/0',
      config: { auth: { secret: 'x-secret-value' }, password: 'p4ssw0rd!' },
      jwt: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
      tokenId: 'abcdefghijkm',
    });
    const line = lines[0]!;
    for (const secret of [token, 'S'.repeat(43), 'abcdefgh12345678', 'hunter2hunter2', 'x-secret-value', 'p4ssw0rd!', 'c2lnbmF0dXJl']) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed['tokenId']).toBe('abcdefghijkm');
    expect(parsed['redis']).toBe('redis://[redacted]@cache:6379/0');
    expect((parsed['headers'] as Record<string, string>)['host']).toBe('localhost');
  });
});
