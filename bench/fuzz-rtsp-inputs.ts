// What the RTSP fuzzer sends: real requests captured from ffmpeg, ffprobe and GStreamer (test/fixtures/rtsp/*.bin, see
// its README for how each was made), pointed at the relay under test and mutated. Pure: a seeded Rng in, bytes out; the
// sockets are in fuzz-rtsp.ts.
//
// Three kinds of case:
//   single   one captured request, mutated
//   session  a captured session replayed for real up to one step (the runner waits for each answer and puts the
//            relay's Session id in), then that step mutated and the rest of the session behind it
//   head     everything a peer sent on its connection (requests and '$' RTP/RTCP frames), mutated as one stream
import { fixture, fixtureNames } from '../test/fixtures/rtsp/load.ts';
import { concat, mutateBytes } from './mutate.ts';
import type { Rng } from './random.ts';

/** The Session id every capture used (the capture server's); the runner puts the relay's own in its place. */
export const CAPTURED_SESSION = '12345678';

export type Role = 'play' | 'publish';

export interface RtspCorpus {
  singles: Array<{ name: string; role: Role; bytes: Uint8Array }>;
  sessions: Array<{ name: string; role: Role; steps: Uint8Array[] }>;
  heads: Array<{ name: string; role: Role; bytes: Uint8Array }>;
}

/** Every capture in test/fixtures/rtsp, grouped by scenario (<tool>-<version>-<scenario>-<NN>-<method>.bin). */
export function loadRtspCorpus(): RtspCorpus {
  const corpus: RtspCorpus = { singles: [], sessions: [], heads: [] };
  const sessions = new Map<string, Array<{ step: number; bytes: Uint8Array }>>();
  for (const name of fixtureNames()) {
    const bytes = new Uint8Array(fixture(name));
    const role: Role = name.includes('-publish-') ? 'publish' : 'play';
    if (name.endsWith('-stream-head.bin')) {
      corpus.heads.push({ name, role, bytes });
      continue;
    }
    const m = /^(.+)-(\d\d)-[a-z_]+\.bin$/.exec(name);
    if (!m) continue;
    corpus.singles.push({ name, role, bytes });
    const list = sessions.get(m[1]!) ?? [];
    list.push({ step: Number(m[2]), bytes });
    sessions.set(m[1]!, list);
  }
  for (const [name, steps] of sessions) {
    corpus.sessions.push({ name, role: name.includes('-publish-') ? 'publish' : 'play', steps: steps.sort((a, b) => a.step - b.step).map((s) => s.bytes) });
  }
  if (corpus.singles.length === 0) throw new Error('no RTSP captures found in test/fixtures/rtsp');
  return corpus;
}

export interface Target {
  port: number;
  /** A stream that is live on the relay: players' captures are pointed at it. */
  liveStream: string;
  /** UDP ports of ours that UDP players' captures are pointed at (the relay sends RTP there, not to a stranger). */
  udpSink: [number, number];
}

export interface RtspCase {
  index: number;
  kind: 'single' | 'session' | 'head';
  source: string;
  /** Unmutated requests sent one at a time, each after the previous answer. */
  prefix: Uint8Array[];
  /** The mutated part, sent back to back after the prefix. */
  payload: Uint8Array;
  /** Where to cut `payload` into separate writes, as fractions (a request arriving in pieces). */
  splits: number[];
  gapMs: number;
  ops: string[];
}

/** Case `index`: deterministic in (rng state, corpus, target). Publishers get a stream name of their own. */
export function rtspCase(rng: Rng, index: number, corpus: RtspCorpus, target: Target): RtspCase {
  const kind = rng.weighted([[5, 'single'], [4, 'session'], [1, 'head']] as const);
  const ops: string[] = [];
  let source: string;
  let prefix: Uint8Array[] = [];
  let payload: Uint8Array;
  const streamFor = (role: Role) => (role === 'play' ? target.liveStream : `fz-rtsp-${index}`);
  if (kind === 'single') {
    const s = rng.pick(corpus.singles);
    source = s.name;
    payload = mutateMessage(rng, retarget(s.bytes, target, streamFor(s.role)), target, ops);
  } else if (kind === 'session') {
    const s = rng.pick(corpus.sessions);
    const at = rng.int(s.steps.length);
    source = `${s.name}@${at + 1}`;
    const steps = s.steps.map((b) => retarget(b, target, streamFor(s.role)));
    prefix = steps.slice(0, at);
    const rest = rng.chance(0.5) ? steps.slice(at + 1) : [];
    payload = concat(mutateMessage(rng, steps[at]!, target, ops), ...rest);
    if (rest.length > 0) ops.push(`+${rest.length} more`);
  } else {
    const h = rng.pick(corpus.heads);
    source = h.name;
    payload = retarget(h.bytes, target, streamFor(h.role));
    for (let n = rng.range(1, 3); n > 0; n--) {
      const op = rng.pick(['bytes', 'interleave', 'truncate'] as const);
      ops.push(op);
      payload = op === 'interleave' ? insertFrame(rng, payload) : op === 'truncate' ? payload.subarray(0, rng.int(payload.length)) : mutateBytes(rng, payload);
    }
  }
  const splits = rng.chance(0.2) ? Array.from({ length: rng.range(1, 4) }, () => rng.next() / 0x1_0000_0000).sort((a, b) => a - b) : [];
  return { index, kind, source, prefix, payload, splits, gapMs: splits.length > 0 ? rng.range(0, 20) : 0, ops };
}

/** Point a capture at the relay: its URIs at our port and stream, its UDP client ports at our sink. */
export function retarget(bytes: Uint8Array, target: Target, stream: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1')
    .replace(/rtsp:\/\/127\.0\.0\.1:\d+\/(?:test|auth)/g, `rtsp://127.0.0.1:${target.port}/${stream}`)
    .replace(/client_port=\d+-\d+/g, `client_port=${target.udpSink[0]}-${target.udpSink[1]}`);
  return Buffer.from(text, 'latin1');
}

// ---- mutations of one RTSP message -------------------------------------------------------------------------------

const METHODS = ['OPTIONS', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'PAUSE', 'RECORD', 'TEARDOWN', 'GET_PARAMETER', 'SET_PARAMETER', 'REDIRECT', 'GET', 'POST', 'options', 'PLAY ', '$PLAY', '', 'X'.repeat(3000)];
const VERSIONS = ['RTSP/1.0', 'RTSP/1.1', 'RTSP/2.0', 'RTSP/0.9', 'HTTP/1.1', 'rtsp/1.0', 'RTSP/1.0 extra', '', 'RTSP/'];
const CONTENT_LENGTHS = ['-1', '0', '99999999999999999999', '65536', '65537', '100000', '4294967296', '0x10', '1e3', ' 12', '', 'NaN', '12abc', '+5'];
const TRANSPORTS = [
  'RTP/AVP/TCP;unicast;interleaved=254-255',
  'RTP/AVP/TCP;unicast;interleaved=255-256',
  'RTP/AVP/TCP;unicast;interleaved=0-1;interleaved=2-3',
  'RTP/AVP/TCP;unicast;interleaved=7',
  'RTP/AVP/TCP;unicast;interleaved=-1-0',
  'RTP/AVP;unicast;client_port=65535-65536',
  'RTP/AVP;unicast;client_port=1-2',
  'RTP/AVP;unicast;client_port=5000',
  'RTP/AVP;unicast;destination=192.0.2.1;client_port=5000-5001',
  'RTP/AVP;multicast;port=5000-5001',
  'RTP/AVP;unicast;client_port=5000-5001;mode=record',
  'RTP/AVP/TCP;unicast;interleaved=0-1;mode="PLAY"',
  'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=zzzzzzzz',
  'RTP/AVP/UDP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1',
  Array.from({ length: 200 }, () => 'RTP/AVP/TCP;unicast;interleaved=0-1').join(','),
  'RTP/SAVP;unicast;client_port=5000-5001',
  '',
  ';;;;',
];
const SESSIONS = ['', 'x'.repeat(5000), `${CAPTURED_SESSION};timeout=-1`, '0', '../../', 'AAAAAAAAAAAAAAAA', `${CAPTURED_SESSION} ${CAPTURED_SESSION}`];
const CSEQS = ['', '-1', '99999999999999999999999', 'abc', '1 2', '0x1', '4294967296'];

function uris(target: Target): string[] {
  const base = `rtsp://127.0.0.1:${target.port}`;
  const s = target.liveStream;
  return [
    '*', '', '/', `${base}`, `${base}/`, `${base}/${s}/../x`, `${base}/%2e%2e/${s}`, `rtsp://[::1]:${target.port}/${s}`, `${base}/${'a'.repeat(70)}`,
    `rtsp://user:pw@127.0.0.1:${target.port}/${s}`, `rtsp://127.0.0.1:99999/${s}`, `${base}/${s}?y#z`, `${base}//${s}`, `${base}/a\tb`, `${base}/${s}%00`,
    `${base}/${s}/trackID=99999999999`, `${base}/${s}/streamid=-1`, `${base}/${s}/trackID=0/trackID=1`, `${base}/${s}/trackID=1`, `http://127.0.0.1:${target.port}/${s}`,
    `${base}/-f`, `${base}/${'é'.repeat(10)}`, `${base}/${s}/${'x'.repeat(2100)}`,
  ];
}

type MessageOp =
  | 'bytes' | 'start-line' | 'dup-header' | 'many-headers' | 'content-length' | 'long-value' | 'header-injection' | 'line-ends'
  | 'interleave' | 'pipeline' | 'transport' | 'session' | 'cseq' | 'drop-header';

const MESSAGE_OPS: ReadonlyArray<readonly [number, MessageOp]> = [
  [6, 'bytes'], [3, 'start-line'], [2, 'dup-header'], [1, 'many-headers'], [3, 'content-length'], [2, 'long-value'],
  [2, 'header-injection'], [2, 'line-ends'], [3, 'interleave'], [1, 'pipeline'], [3, 'transport'], [2, 'session'], [2, 'cseq'], [2, 'drop-header'],
];

/** One to three mutations of a request; each op's name is added to `ops`. */
export function mutateMessage(rng: Rng, input: Uint8Array, target: Target, ops: string[]): Uint8Array {
  let b = input;
  for (let n = rng.weighted([[6, 1], [3, 2], [1, 3]] as const); n > 0; n--) {
    const op = rng.weighted(MESSAGE_OPS);
    ops.push(op);
    b = applyOp(rng, op, b, target);
  }
  return b;
}

function applyOp(rng: Rng, op: MessageOp, b: Uint8Array, target: Target): Uint8Array {
  switch (op) {
    case 'bytes':
      return mutateBytes(rng, b);
    case 'interleave':
      return insertFrame(rng, b);
    case 'pipeline': {
      // RFC 2326 allows pipelining; the relay answers up to 16 in flight.
      const k = rng.pick([2, 15, 16, 17, 40]);
      return concat(...Array.from({ length: k }, () => b));
    }
    default:
      return editMessage(rng, op, b, target);
  }
}

/** Edits that need the message's lines: the start line, headers, body. */
function editMessage(rng: Rng, op: Exclude<MessageOp, 'bytes' | 'interleave' | 'pipeline'>, b: Uint8Array, target: Target): Uint8Array {
  const m = splitMessage(b);
  const header = (name: string) => m.headers.findIndex((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  const set = (name: string, value: string) => {
    const i = header(name);
    if (i >= 0) m.headers[i] = `${name}: ${value}`;
    else m.headers.splice(rng.int(m.headers.length + 1), 0, `${name}: ${value}`);
  };
  switch (op) {
    case 'start-line': {
      const parts = m.start.split(' ');
      const which = rng.int(3);
      if (which === 0) parts[0] = rng.pick(METHODS);
      else if (which === 1) parts[1] = rng.pick(uris(target));
      else parts[2] = rng.pick(VERSIONS);
      m.start = rng.chance(0.1) ? parts.join('  ') : parts.join(' ');
      break;
    }
    case 'dup-header': {
      if (m.headers.length === 0) break;
      const i = rng.int(m.headers.length);
      const copies = rng.pick([1, 2, 10, 254, 300]);
      m.headers.splice(i, 0, ...Array.from({ length: copies }, () => m.headers[i]!));
      break;
    }
    case 'many-headers':
      m.headers.push(...Array.from({ length: rng.pick([250, 254, 255, 256, 1000]) }, (_, i) => `X-Fuzz-${i}: ${i}`));
      break;
    case 'content-length': {
      // Huge, negative, non-numeric, or off by some: a body the relay must bound or refuse.
      const v = rng.chance(0.7) ? rng.pick(CONTENT_LENGTHS) : String(Math.max(0, m.body.length + rng.range(-20, 2000)));
      set('Content-Length', v);
      if (rng.chance(0.2)) m.headers.push(`Content-Length: ${m.body.length + 1}`);
      break;
    }
    case 'long-value': {
      const value = 'x'.repeat(rng.pick([4095, 4096, 4097, 10_000, 70_000]));
      if (m.headers.length > 0 && rng.chance(0.7)) {
        const i = rng.int(m.headers.length);
        m.headers[i] = `${m.headers[i]!.split(':')[0] ?? 'X'}: ${value}`;
      } else m.headers.push(`X-Long: ${value}`);
      break;
    }
    case 'header-injection': {
      if (m.headers.length === 0) break;
      const i = rng.int(m.headers.length);
      const h = m.headers[i]!;
      const at = rng.int(h.length + 1);
      const junk = rng.pick(['\r', '\n', '\0', '\r\n\r\n', '$', '\xc3\x28', '\xff\xfe', ': ', '\r\n ', '\r\nCSeq: 999', '\t']);
      m.headers[i] = h.slice(0, at) + junk + h.slice(at);
      break;
    }
    case 'line-ends': {
      const head = joinMessage(m).head;
      const mode = rng.int(5);
      const tail = m.body;
      let out: string;
      if (mode === 0) out = head.replace(/\r\n/g, '\n');
      else if (mode === 1) out = head.replace(/\r\n/g, '\r');
      else if (mode === 2) out = head.replace(/\r\n\r\n$/, '\r\n');
      else if (mode === 3) out = '\r\n'.repeat(rng.pick([1, 100, 1100])) + head;
      else out = head.replace(/\r\n/, '\n\r');
      return concat(Buffer.from(out, 'latin1'), tail);
    }
    case 'transport':
      set('Transport', rng.pick(TRANSPORTS));
      break;
    case 'session':
      set('Session', rng.pick(SESSIONS));
      break;
    case 'cseq':
      if (rng.chance(0.3)) {
        const i = header('CSeq');
        if (i >= 0) m.headers.splice(i, 1);
      } else set('CSeq', rng.pick(CSEQS));
      break;
    case 'drop-header':
      if (m.headers.length > 0) m.headers.splice(rng.int(m.headers.length), 1);
      break;
  }
  const text = joinMessage(m);
  return concat(Buffer.from(text.head, 'latin1'), m.body);
}

interface Lines {
  start: string;
  headers: string[];
  body: Uint8Array;
  /** The bytes after the header section were not found: the message is cut short. */
  open: boolean;
}

function splitMessage(b: Uint8Array): Lines {
  const text = Buffer.from(b).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split('\r\n');
  return { start: lines[0] ?? '', headers: lines.slice(1), body: end < 0 ? new Uint8Array(0) : b.subarray(end + 4), open: end < 0 };
}

function joinMessage(m: Lines): { head: string } {
  return { head: [m.start, ...m.headers].join('\r\n') + (m.open ? '' : '\r\n\r\n') };
}

/**
 * RFC 2326 §10.12: a '$' frame (channel, 16-bit length, payload) put before, after or inside the bytes; its payload
 * may be shorter than it says (the rest never comes), and channels need not belong to any SETUP.
 */
export function insertFrame(rng: Rng, b: Uint8Array): Uint8Array {
  const declared = rng.pick([0, 1, 12, rng.int(1500), 0xffff]);
  const actual = rng.chance(0.7) ? declared : rng.int(declared + 1);
  const frame = concat(Uint8Array.of(0x24, rng.int(256), declared >> 8, declared & 0xff), rng.bytes(actual));
  const where = rng.int(3);
  const at = where === 0 ? 0 : where === 1 ? b.length : rng.int(b.length + 1);
  return concat(b.subarray(0, at), frame, b.subarray(at));
}
