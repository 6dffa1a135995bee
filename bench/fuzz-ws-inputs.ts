// What the WebSocket fuzzer sends to /ws/publish: the page's own messages (shared/protocol.ts hello; an fMP4 init segment
// and per-frame moof+mdat fragments written by the project's Fmp4Writer from real x264 and libopus output), mutated.
// Pure: a seeded Rng in, messages out; the sockets are in fuzz-ws.ts.
//
//   hello-json   the hello as JSON, with fields removed, retyped, out of range, hostile names and codecs, extra keys
//   hello-bytes  the hello's bytes mutated (and so, often, not UTF-8), sent as a text or a binary message
//   init         a good hello, then a mutated init segment (box sizes and types, fields, bytes)
//   fragments    a good hello and init, then fragments with one or more mutated, reordered or repeated
//   order        the page's messages in an order it never sends them (media before hello, two hellos, two inits …)
//   huge         one message just over the relay's maxPayload (16 MiB)
import { walk } from '../test/support/fmp4-walk.ts';
import type { PublisherMedia } from '../test/support/ws-publisher.ts';
import { AUDIO_TIMESCALE, FPS, VIDEO_TIMESCALE } from '../test/support/ws-publisher.ts';
import { Fmp4Writer } from '../shared/fmp4/writer.ts';
import { PROTOCOL_VERSION } from '../shared/protocol.ts';
import { MAX_PAYLOAD } from '../server/servers/http/server.ts';
import { concat, mutateBytes } from './mutate.ts';
import type { Rng } from './random.ts';

export interface WsMessage {
  data: Uint8Array | string;
  binary: boolean;
}

export interface WsCase {
  index: number;
  kind: 'hello-json' | 'hello-bytes' | 'init' | 'fragments' | 'order' | 'huge';
  messages: WsMessage[];
  ops: string[];
}

/** A good publisher's messages, from which every case is made. */
export interface WsMaterial {
  hello: (stream: string) => Record<string, unknown>;
  init: Uint8Array;
  /** The first half second of media, one fragment per video frame or Opus packet, in time order. */
  fragments: Uint8Array[];
}

export function wsMaterial(media: PublisherMedia): WsMaterial {
  const writer = new Fmp4Writer({
    video: { kind: 'video', codec: 'avc1', avcC: media.avcC, width: media.width, height: media.height, timescale: VIDEO_TIMESCALE },
    audio: { kind: 'audio', codec: 'opus', channels: media.channels, sampleRate: media.inputSampleRate, preSkip: media.preSkip, timescale: AUDIO_TIMESCALE },
  });
  const frameTicks = VIDEO_TIMESCALE / FPS;
  const timed: Array<{ at: number; bytes: Uint8Array }> = [];
  for (let i = 0; i < FPS / 2; i++) {
    const f = media.video[i]!;
    timed.push({ at: i / FPS, bytes: writer.fragment('video', { data: f.data, timestamp: i * frameTicks, duration: frameTicks, keyframe: f.keyframe }) });
  }
  for (const p of media.audio.filter((a) => a.time < AUDIO_TIMESCALE / 2)) {
    timed.push({ at: p.time / AUDIO_TIMESCALE, bytes: writer.fragment('audio', { data: p.data, timestamp: p.time, duration: p.duration, keyframe: true }) });
  }
  return {
    hello: (stream) => ({
      type: 'hello',
      version: PROTOCOL_VERSION,
      stream,
      video: { codec: media.codec, width: media.width, height: media.height, framerate: FPS, bitrate: 1_000_000 },
      audio: { codec: 'opus', sampleRate: 48_000, channels: media.channels },
    }),
    init: writer.initSegment(),
    fragments: timed.sort((a, b) => a.at - b.at).map((t) => t.bytes),
  };
}

const text = (s: string): WsMessage => ({ data: s, binary: false });
const bin = (b: Uint8Array): WsMessage => ({ data: b, binary: true });

/** Case `index`: deterministic in (rng state, material). Each case publishes under a name of its own. */
export function wsCase(rng: Rng, index: number, m: WsMaterial, huge: () => Uint8Array): WsCase {
  const kind = rng.weighted([[300, 'hello-json'], [150, 'hello-bytes'], [200, 'init'], [250, 'fragments'], [100, 'order'], [5, 'huge']] as const);
  const ops: string[] = [];
  const stream = `fz-ws-${index}`;
  const hello = JSON.stringify(m.hello(stream));
  const some = (n: number) => m.fragments.slice(0, n).map(bin);
  let messages: WsMessage[];
  switch (kind) {
    case 'hello-json': {
      const h = mutateHello(rng, m.hello(stream), ops);
      messages = [text(h), ...(rng.chance(0.5) ? [bin(m.init), ...some(rng.range(1, 8))] : [])];
      break;
    }
    case 'hello-bytes': {
      let b: Uint8Array = Buffer.from(hello);
      for (let n = rng.range(1, 3); n > 0; n--) b = mutateBytes(rng, b);
      const asBinary = rng.chance(0.2);
      ops.push(asBinary ? 'as-binary' : 'as-text');
      messages = [{ data: b, binary: asBinary }, ...(rng.chance(0.3) ? [bin(m.init)] : [])];
      break;
    }
    case 'init':
      messages = [text(hello), bin(mutateBoxes(rng, m.init, ops)), ...some(rng.range(0, 6))];
      break;
    case 'fragments':
      messages = [text(hello), bin(m.init), ...mutateFragments(rng, m, ops)];
      break;
    case 'order': {
      const orders: Array<[string, WsMessage[]]> = [
        ['init-first', [bin(m.init), text(hello)]],
        ['fragment-first', [bin(m.fragments[0]!)]],
        ['no-init', [text(hello), ...some(3)]],
        ['two-hellos', [text(hello), text(hello)]],
        ['two-inits', [text(hello), bin(m.init), bin(m.init), ...some(3)]],
        ['hello-after-init', [text(hello), bin(m.init), text(hello), ...some(2)]],
        ['empty-text', [text('')]],
        ['empty-binary-after-hello', [text(hello), bin(new Uint8Array(0))]],
        ['empty-binary-after-init', [text(hello), bin(m.init), bin(new Uint8Array(0))]],
        ['stats-first', [text('{"type":"stats","sentKbps":1,"fps":1,"encodeMs":1,"droppedFrames":0,"bufferedBytes":0}'), text(hello), bin(m.init)]],
        ['garbage-stats-live', [text(hello), bin(m.init), text('{"type":"stats","sentKbps":-1}'), ...some(3)]],
        ['unknown-type-live', [text(hello), bin(m.init), text('{"type":"keyframe-request"}'), ...some(3)]],
        ['fragments-reversed', [text(hello), bin(m.init), ...some(6).reverse()]],
      ];
      const [name, msgs] = rng.pick(orders);
      ops.push(name);
      messages = msgs;
      break;
    }
    case 'huge': {
      const asText = rng.chance(0.3);
      ops.push(asText ? 'huge-text' : 'huge-binary');
      messages = asText ? [{ data: huge(), binary: false }] : [text(hello), bin(huge())];
      break;
    }
  }
  return { index, kind, messages, ops };
}

/** Bytes of one message just over the relay's maxPayload: ws must refuse it (1009) before buffering it all. */
export function hugeMessage(): Uint8Array {
  return new Uint8Array(MAX_PAYLOAD + 1).fill(0x61);
}

// ---- hello --------------------------------------------------------------------------------------------------------

const PATHS = ['type', 'version', 'stream', 'token', 'resume', 'video', 'audio', 'video.codec', 'video.width', 'video.height', 'video.framerate', 'video.bitrate', 'audio.codec', 'audio.sampleRate', 'audio.channels'];
const VALUES: unknown[] = [null, true, false, 0, -1, '', 'x', [], {}, 1e308, -1e308, 2 ** 53 + 1, 1.5, '1', [1, 2], { a: 1 }, 0.000001];
const NAMES = ['', '.', '..', '../etc', 'a/b', '-f', 'a b', 'x\u0000y', 'é', '😀', 'con', '%2e%2e', 'a'.repeat(64), 'a'.repeat(65), 'A.b_c-1', 'x\r\ny', '\u202e', 'test?x=1', 'name#x', 'a\tb', '{stream}'];
const CODECS = ['avc1.640028', 'avc1', 'avc1.', 'avc1.zzzzzz', 'hvc1.1.6.L93.B0', 'vp8', 'vp09.00.10.08', 'av01.0.04M.08', 'opus', 'mp4a.40.2', '', 'x'.repeat(65), 'alaw', 'ulaw', 'flac'];
const TYPES = ['HELLO', 'hello ', 'stats', 'accepted', 'refused', 'error', 'keyframe-request', '', 'constructor', '__proto__', 'toString'];

function mutateHello(rng: Rng, h: Record<string, unknown>, ops: string[]): string {
  const op = rng.pick(['remove', 'retype', 'number', 'name', 'codec', 'long', 'extra', 'type', 'raw'] as const);
  ops.push(op);
  const path = rng.pick(PATHS).split('.');
  const parent = (create: boolean): Record<string, unknown> | undefined => {
    let o: Record<string, unknown> = h;
    for (const k of path.slice(0, -1)) {
      const next = o[k];
      if (typeof next === 'object' && next !== null && !Array.isArray(next)) o = next as Record<string, unknown>;
      else if (create) o = o[k] = {};
      else return undefined;
    }
    return o;
  };
  const key = path[path.length - 1]!;
  switch (op) {
    case 'remove': {
      const p = parent(false);
      if (p) delete p[key];
      break;
    }
    case 'retype':
      parent(true)![key] = rng.pick(VALUES);
      break;
    case 'number':
      parent(true)![rng.pick(['width', 'height', 'framerate', 'bitrate', 'sampleRate', 'channels', 'version'])] = rng.pick([0, -1, 1, 7999, 8192, 8193, 192001, 1e9, 2 ** 31, 2 ** 32, 1e21, 0.5, -0]);
      break;
    case 'name':
      h['stream'] = rng.pick(NAMES);
      break;
    case 'codec':
      (rng.chance(0.5) ? ((h['video'] ??= {}) as Record<string, unknown>) : ((h['audio'] ??= {}) as Record<string, unknown>))['codec'] = rng.pick(CODECS);
      break;
    case 'long':
      h[rng.pick(['stream', 'token', 'type'])] = 'x'.repeat(rng.pick([256, 257, 1024, 1025, 4096, 70_000]));
      break;
    case 'extra': {
      const extra = rng.pick(['"__proto__":{"isAdmin":true}', '"constructor":{"prototype":{"x":1}}', '"resume":"true"', '"token":null', '"video":{"codec":"avc1.42e01e","width":1,"height":1,"framerate":1,"bitrate":1,"extra":[1,2,3]}']);
      return JSON.stringify(h).replace(/^\{/, `{${extra},`);
    }
    case 'type':
      h['type'] = rng.pick(TYPES);
      break;
    case 'raw': {
      const s = JSON.stringify(h);
      return rng.pick([
        s.replace('{', '{"type":"stats",'), // duplicate keys: the last wins in JSON.parse
        `${s}garbage`,
        `\ufeff${s}`,
        s.replace('"version":1', '"version":NaN'),
        `[${s}]`,
        `${'['.repeat(5000)}${']'.repeat(5000)}`,
        `{"type":"hello","video":${'{"a":'.repeat(1000)}1${'}'.repeat(1000)}}`,
        s.slice(0, rng.int(s.length)),
        'null',
        '"hello"',
        s.replace(/"stream":"[^"]*"/, '"stream":"\\ud800"'),
      ]);
    }
  }
  return JSON.stringify(h);
}

// ---- fMP4 ---------------------------------------------------------------------------------------------------------

const BOX_TYPES = ['free', 'skip', 'moov', 'moof', 'mdat', 'trak', 'traf', 'trun', 'tfdt', 'avc1', 'hvc1', 'Opus', 'mp4a', 'avcC', 'stsd', '\0\0\0\0', 'uuid'];
const SIZES = (size: number) => [0, 1, 7, 8, size - 1, size + 1, 0xffffffff, 0x7fffffff, size * 2];

/** One to three box-aware or byte mutations of an init segment or fragment (ISO/IEC 14496-12 §4.2 box headers). */
export function mutateBoxes(rng: Rng, input: Uint8Array, ops: string[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (let n = rng.weighted([[6, 1], [3, 2], [1, 3]] as const); n > 0; n--) {
    const boxes = boxesOf(b);
    const op = boxes.length === 0 ? 'bytes' : rng.pick(['size', 'type', 'drop', 'dup', 'field', 'field', 'bytes', 'bytes'] as const);
    if (op === 'bytes') {
      ops.push('bytes');
      b = mutateBytes(rng, b);
      continue;
    }
    const box = rng.pick(boxes);
    ops.push(`${op}:${box.path}`);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (op === 'size') view.setUint32(box.start, rng.pick(SIZES(box.size)) >>> 0);
    else if (op === 'type') b.set(Buffer.from(rng.pick(BOX_TYPES), 'latin1').subarray(0, 4), box.start + 4);
    else if (op === 'drop') b = concat(b.subarray(0, box.start), b.subarray(box.start + box.size));
    else if (op === 'dup') b = concat(b.subarray(0, box.start + box.size), b.subarray(box.start, box.start + box.size), b.subarray(box.start + box.size));
    else if (box.size >= 12) {
      // A 32-bit field inside the box: version/flags, counts, times, offsets, sizes.
      const at = box.start + 8 + 4 * rng.int(Math.floor((box.size - 8) / 4));
      if (at + 4 <= b.length) view.setUint32(at, rng.pick([0, 1, 0xffffffff, 0x80000000, 0x7fffffff, rng.next()]) >>> 0);
    }
  }
  return b;
}

/** The boxes whose header and extent lie inside `b` (the test walker trusts sizes, so a mutated buffer may stop it). */
function boxesOf(b: Uint8Array): ReturnType<typeof walk> {
  try {
    return walk(b).filter((x) => x.start + 8 <= b.length && x.size >= 8 && x.start + x.size <= b.length);
  } catch {
    return [];
  }
}

function mutateFragments(rng: Rng, m: WsMaterial, ops: string[]): WsMessage[] {
  const n = rng.range(1, m.fragments.length);
  const list: WsMessage[] = m.fragments.slice(0, n).map(bin);
  for (let k = rng.range(1, 2); k > 0; k--) {
    const i = rng.int(list.length);
    const op = rng.weighted([[6, 'mutate'], [1, 'repeat'], [1, 'swap'], [1, 'init-again'], [1, 'text-between']] as const);
    ops.push(`${op}@${i}`);
    if (op === 'mutate') list[i] = bin(mutateBoxes(rng, list[i]!.data as Uint8Array, ops));
    else if (op === 'repeat') list.splice(i + 1, 0, list[rng.int(i + 1)]!);
    else if (op === 'swap') {
      const j = rng.int(list.length);
      [list[i], list[j]] = [list[j]!, list[i]!];
    } else if (op === 'init-again') list.splice(i, 0, bin(m.init));
    else list.splice(i, 0, text(rng.pick(['{"type":"hello","version":1,"stream":"x","video":{"codec":"avc1.42e01e","width":2,"height":2,"framerate":30,"bitrate":1}}', 'not json', '{}'])));
  }
  return list;
}
