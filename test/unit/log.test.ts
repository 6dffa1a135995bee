// server/log.ts on pino: the line shape tests and `jq` rely on (time as ISO text, level as a word, event, fields),
// children carrying their fields, the level filter, and errors as { message, code } without a stack.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.ts';

const NOW = new Date('2026-12-04T10:00:00.000Z');

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: string[] = [];
  const logger = createLogger({ level, sink: (l) => lines.push(l), now: () => NOW }, { component: 'test' });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON object per call, with no newline, time, level as a word, the event and the fields', () => {
    const { logger, lines, parsed } = capture();
    logger.info('stream-live', { stream: 'cam', readers: 2 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(parsed()[0]).toEqual({ time: '2026-12-04T10:00:00.000Z', level: 'info', event: 'stream-live', component: 'test', stream: 'cam', readers: 2 });
  });

  it('gives children their fields, a call\'s own fields winning', () => {
    const { logger, parsed } = capture();
    logger.child({ stream: 'a', session: 's1' }).warn('reader-behind', { stream: 'b' });
    expect(parsed()[0]).toMatchObject({ level: 'warn', event: 'reader-behind', component: 'test', session: 's1', stream: 'b' });
  });

  it('drops what is below the level', () => {
    const { logger, parsed } = capture('warn');
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    expect(parsed().map((l) => [l['level'], l['event']])).toEqual([['warn', 'c'], ['error', 'd']]);
  });

  it('writes errors as their message and code (never a stack), and bigints as text', () => {
    const { logger, lines, parsed } = capture();
    logger.error('http-failed', { err: Object.assign(new Error('boom'), { code: 'ECONNRESET' }), cause: new Error('inner'), bytes: 12n });
    expect(parsed()[0]).toMatchObject({ err: { message: 'boom', code: 'ECONNRESET' }, cause: { message: 'inner' }, bytes: '12' });
    expect(lines[0]).not.toContain('stack');
  });
});
