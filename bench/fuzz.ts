// npm run bench:fuzz [-- --requests 10000 --seed 1 --only rtsp:12,40 --only ws:7]
//
// The RTSP and WebSocket fuzzers as a program: N mutated RTSP requests (captures of ffmpeg, ffprobe and GStreamer with
// bit flips, truncation, duplicated and oversized headers, huge lengths, '$' frames put in, hostile Transport and
// Session values, pipelining) and N mutated publisher WebSocket messages (hello JSON, its bytes, init segments,
// fragments, message order, one over maxPayload), against a relay in this process. Seeded: the same --seed gives the
// same inputs, and --only replays single cases by the indices the report lists. Prints one JSON object on stdout and
// a summary on stderr; exits 1 if the relay crashed or no longer serves a real ffmpeg player afterwards.
import { parseArgs } from 'node:util';
import { healthy, runFuzz, type FuzzReport } from './fuzz-run.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string', multiple: true },
    'rtsp-concurrency': { type: 'string', default: '32' },
    'ws-concurrency': { type: 'string', default: '16' },
  },
});

const requests = whole(values.requests, '--requests');
const seed = whole(values.seed, '--seed');
const only: { rtsp?: number[]; ws?: number[] } = {};
for (const o of values.only ?? []) {
  const m = /^(rtsp|ws):(\d+(?:,\d+)*)$/.exec(o);
  if (!m) usage(`--only takes rtsp:I,J,... or ws:I,J,..., not "${o}"`);
  const list = m[2]!.split(',').map(Number);
  if (m[1] === 'rtsp') only.rtsp = [...(only.rtsp ?? []), ...list];
  else only.ws = [...(only.ws ?? []), ...list];
}
// With --only for one fuzzer and not the other, the other runs no cases.
if (only.rtsp || only.ws) {
  only.rtsp ??= [];
  only.ws ??= [];
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const report = await runFuzz({
  requests,
  seed,
  rtspConcurrency: whole(values['rtsp-concurrency'], '--rtsp-concurrency'),
  wsConcurrency: whole(values['ws-concurrency'], '--ws-concurrency'),
  ...(only.rtsp || only.ws ? { only } : {}),
  log,
});
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
summary(report);
process.exit(healthy(report) ? 0 : 1);

function summary(r: FuzzReport): void {
  const top = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(' ');
  const a = r.afterwards;
  log('');
  log(`  seed ${r.settings.seed}, ${r.settings.requests} cases each; ${r.machine.cpus} cores, Node ${r.machine.node}`);
  log(`  RTSP  ${r.rtsp.cases} cases, ${r.rtsp.answers} answers in ${(r.rtsp.ms / 1000).toFixed(1)} s; status ${top(r.rtsp.byStatus)}`);
  log(`        outcomes ${top(r.rtsp.byOutcome)}; malformed answers ${r.rtsp.malformed.length}`);
  log(`  WS    ${r.ws.cases} cases in ${(r.ws.ms / 1000).toFixed(1)} s; close ${top(r.ws.byCloseCode)}, after non-UTF-8 text ${top(r.ws.byCloseCodeInvalidUtf8Text)}; left open ${r.ws.leftOpen}; undocumented codes ${r.ws.undocumented.length}`);
  log(`  relay crashes ${r.relay.crashes.length}, error logs ${r.relay.errors.length}`);
  log(`  afterwards: OPTIONS ${a.optionsStatus}, live publisher ${a.livePublisherStillRunning ? 'running' : 'GONE'}, ffmpeg plays it ${a.ffmpegPlaysLiveStream.ok ? 'yes' : 'NO'}, new publisher → player ${a.newFfmpegPublisherToPlayer.ok ? 'yes' : 'NO'}, page hello accepted ${a.pagePublisherAccepted ? 'yes' : 'NO'}`);
  log(`  ${healthy(r) ? 'relay healthy' : 'RELAY NOT HEALTHY'} after ${(r.timing.totalMs / 1000).toFixed(1)} s`);
}

function whole(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) usage(`${flag} must be a whole number, not "${s}"`);
  return n;
}

function usage(problem: string): never {
  process.stderr.write(`bench:fuzz: ${problem}\n`);
  process.exit(2);
}
