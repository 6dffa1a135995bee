// bench:fuzz's core with 1,000 cases per fuzzer (npm run bench:fuzz runs 10,000): the relay survives mutated RTSP
// requests and publisher WebSocket messages, answers each request with a well-formed status line, closes each bad
// socket with a code shared/protocol.ts documents, and afterwards still serves real ffmpeg publishers and players.
import { describe, expect, it } from 'vitest';
import { runFuzz, type FuzzReport } from '../../../bench/fuzz-run.ts';
import { wellFormedStatus } from '../../../bench/fuzz-rtsp.ts';
import { DOCUMENTED_CLOSE_CODES } from '../../../bench/fuzz-ws.ts';

const REQUESTS = 1000;
// Fixed, so a failure here replays exactly: npm run bench:fuzz -- --requests 1000 --seed 12 --only rtsp:I
const SEED = 12;
/** RFC 6455 §8.1 / §7.4.1: a text message that is not UTF-8 fails the connection with 1007 (the ws library does it). */
const INVALID_UTF8 = 1007;

describe(`bench:fuzz core, ${REQUESTS} cases per fuzzer (seed ${SEED})`, () => {
  let report: FuzzReport;

  it('runs every case without crashing the relay or logging an internal error', async () => {
    report = await runFuzz({ requests: REQUESTS, seed: SEED });
    expect(report.relay.crashes).toEqual([]);
    expect(report.relay.errors).toEqual([]);
    expect(report.rtsp.cases).toBe(REQUESTS);
    expect(report.ws.cases).toBe(REQUESTS);
  }, 90_000);

  it('still serves afterwards: OPTIONS, the live stream to an ffmpeg player, a new ffmpeg publisher to a player, a page', () => {
    const a = report.afterwards;
    expect(a.optionsStatus).toBe(200);
    expect(a.livePublisherStillRunning).toBe(true);
    expect(a.ffmpegPlaysLiveStream).toMatchObject({ ok: true, stderr: '' });
    expect(a.newFfmpegPublisherToPlayer).toMatchObject({ ok: true, stderr: '' });
    expect(a.pagePublisherAccepted).toBe(true);
  });

  it('answers every RTSP request with "RTSP/1.0 NNN reason", NNN 200 or 4xx/5xx, and answers every complete one', () => {
    const r = report.rtsp;
    expect(r.malformed).toEqual([]);
    for (const status of Object.keys(r.byStatus)) expect(wellFormedStatus(Number(status)), `status ${status}`).toBe(true);
    expect(r.answers).toBeGreaterThan(REQUESTS);
    // A complete request the relay never answered, or a connection it left hanging, is listed with its case index.
    expect({ stalled: r.byOutcome.stalled, unanswered: r.byOutcome['closed-unanswered'], prefixFailed: r.byOutcome['prefix-failed'], examples: r.examples }).toMatchObject({ stalled: 0, unanswered: 0, prefixFailed: 0 });
  });

  it('closes every bad WebSocket with a documented code (1007 only for text that is not UTF-8)', () => {
    const w = report.ws;
    for (const code of Object.keys(w.byCloseCode)) expect(DOCUMENTED_CLOSE_CODES, `close ${code}; cases ${JSON.stringify(w.undocumented)}`).toContain(Number(code));
    for (const code of Object.keys(w.byCloseCodeInvalidUtf8Text)) expect([...DOCUMENTED_CLOSE_CODES, INVALID_UTF8]).toContain(Number(code));
    // The fuzzer did reach past the hello: refusals, bad init segments and bad fragments all came up.
    expect(Object.keys(w.answers)).toEqual(expect.arrayContaining(['accepted', 'error:bad-init', 'error:bad-fragment', 'error:bad-message']));
  });
});
