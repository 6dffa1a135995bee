// Issue 12, item 4 (first bullet): a client that sends more than 16 requests without reading the answers gets the
// first 16 answered, then one 400, then the close; and the server logs it once, however much more the client sends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { raw, requestText, sleep } from './helpers.ts';

const BOUND = 16; // connection.ts MAX_PIPELINED

describe('pipelined requests', () => {
  let t: TestRelay;
  let url: string;

  beforeAll(async () => {
    t = await startTestRelay();
    url = t.url('pipe');
  });
  afterAll(async () => {
    await t.close();
  });

  const options = (from: number, count: number) => Array.from({ length: count }, (_, i) => requestText('OPTIONS', url, [['CSeq', String(from + i)]])).join('');
  const warnings = () => t.logs.filter((l) => l.event === 'bad-request' && l.level === 'warn').length;

  it(`${BOUND} at once are all answered, and the connection stays open`, async () => {
    const r = await raw(t.rtspPort, [options(1, BOUND)], { expect: BOUND });
    expect(r.closed).toBe(false);
    expect(r.responses.map((x) => x.status)).toEqual(Array(BOUND).fill(200));
  });

  it(`${BOUND + 4} at once: the first ${BOUND} answered in order, then one 400, then the close`, async () => {
    const before = warnings();
    const r = await raw(t.rtspPort, [options(1, BOUND + 4)], { waitMs: 5000 });
    expect(r.closed).toBe(true);
    expect(r.responses.map((x) => x.status)).toEqual([...Array(BOUND).fill(200), 400]);
    expect(r.responses.slice(0, BOUND).map((x) => getHeader(x.headers, 'CSeq'))).toEqual(Array.from({ length: BOUND }, (_, i) => String(i + 1)));
    const last = r.responses[BOUND];
    expect(getHeader(last?.headers ?? [], 'Connection')).toBe('close');
    expect(Buffer.from(last?.body ?? []).toString()).toMatch(/more than 16 requests/);
    expect(warnings() - before).toBe(1);
  });

  it('a flood (2,000 requests in 100 writes) is logged once', async () => {
    const before = warnings();
    const chunks = Array.from({ length: 100 }, (_, i) => options(1 + i * 20, 20));
    const r = await raw(t.rtspPort, chunks, { waitMs: 5000, gapMs: 2 });
    expect(r.closed).toBe(true);
    // However the bytes were cut into reads, every answer before the 400 is a 200, in order, and nothing follows it.
    const statuses = r.responses.map((x) => x.status);
    expect(statuses.at(-1)).toBe(400);
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    expect(r.responses.slice(0, -1).map((x) => getHeader(x.headers, 'CSeq'))).toEqual(statuses.slice(0, -1).map((_, i) => String(i + 1)));
    await sleep(200);
    expect(warnings() - before).toBe(1);
  });
});
