// depacketizeH264 (RFC 6184 §5.6 single NAL unit, §5.7.1 STAP-A, §5.8 FU-A) and lengthPrefixed, against:
//   - the RTP captures from real ffmpeg 5.1 and GStreamer 1.22 in test/fixtures/rtp/ (README.md there says how each
//     was made): every access unit depacketizes, the NAL types are what each sender is known to put in, and real
//     ffprobe decodes the result written as an Annex B stream;
//   - hand-made payloads for every error path;
//   - fast-check properties: packetize.ts's h264Payloads (and a STAP-A aggregator written here) round-trip, and no
//     input at all makes it throw.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFixture, type Fixture } from '../../../fixtures/rtp/load.ts';
import { ffprobePath } from '../../../support/ffmpeg.ts';
import { depacketizeH264, lengthPrefixed } from '../../../../server/protocols/rtp/depacketize-h264.ts';
import { MAX_UNIT_BYTES, type DepacketizeErrorCode, type Depacketized } from '../../../../server/protocols/rtp/depacketized.ts';
import { parseRtpHeader, rtpPayload, seqDelta } from '../../../../server/protocols/rtp/packet.ts';
import { h264Payloads, MAX_RTP_PAYLOAD, splitLengthPrefixed, type Payload } from '../../../../server/protocols/rtp/packetize.ts';

const CODES: readonly DepacketizeErrorCode[] = ['truncated', 'fragment-lost', 'unsupported', 'too-large', 'malformed'];
const nalType = (nal: Uint8Array): number => nal[0]! & 0x1f;
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

/** The RTP payloads of each access unit, the way the hub groups them: same timestamp, the marker ends one. */
function accessUnits(f: Fixture): Uint8Array[][] {
  const aus: Uint8Array[][] = [];
  let open = false;
  let timestamp = -1;
  let seq = -1;
  for (const d of f.rtp) {
    const h = parseRtpHeader(d);
    if (h === undefined) throw new Error(`${f.meta.name}: a captured datagram is not RTP`);
    // depacketizeH264's contract: the caller has checked the sequence numbers are contiguous.
    if (seq >= 0 && seqDelta(h.sequenceNumber, seq) !== 1) throw new Error(`${f.meta.name}: sequence gap at ${h.sequenceNumber}`);
    seq = h.sequenceNumber;
    if (open && h.timestamp === timestamp) aus.at(-1)!.push(rtpPayload(d, h));
    else aus.push([rtpPayload(d, h)]);
    timestamp = h.timestamp;
    open = !h.marker;
  }
  if (open) throw new Error(`${f.meta.name}: the last access unit has no marker`);
  return aus;
}

function unwrap<T>(r: Depacketized<T>, what: string): T {
  if (!r.ok) throw new Error(`${what}: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

function expectError(r: Depacketized<Uint8Array[]>, code: DepacketizeErrorCode, message?: RegExp): void {
  expect(r.ok ? 'ok' : r.error.code).toBe(code);
  if (!r.ok && message !== undefined) expect(r.error.message).toMatch(message);
}

/** Whatever the input: ok with ≥1 non-empty NAL unit of a legal header, or an error with a known code and a message. */
function expectWellFormed(r: Depacketized<Uint8Array[]>): void {
  if (r.ok) {
    expect(r.value.length).toBeGreaterThan(0);
    for (const n of r.value) {
      expect(n.length).toBeGreaterThan(0);
      expect(n[0]! & 0x80).toBe(0);
      expect(nalType(n)).toBeGreaterThanOrEqual(1);
      expect(nalType(n)).toBeLessThanOrEqual(23);
    }
  } else {
    expect(CODES).toContain(r.error.code);
    expect(r.error.message.length).toBeGreaterThan(0);
  }
}

/** The ITU-T H.264 Annex B byte stream of NAL units: a 4-byte start code before each. */
function annexB(nalus: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(nalus.flatMap((n) => [bytes(0, 0, 0, 1), n]));
}

/** A described payload's bytes (packetize.ts Payload): `headSize` bytes of `head`, big-endian, then `body`. */
function payloadBytes(p: Payload): Uint8Array {
  const out = new Uint8Array(p.headSize + p.body.length);
  for (let i = 0; i < p.headSize; i++) out[i] = (p.head >>> (8 * (p.headSize - 1 - i))) & 0xff;
  out.set(p.body, p.headSize);
  return out;
}

/** RFC 6184 §5.7.1 STAP-A, written here independently of the code under test. NRI: the largest of the members' (§5.7). */
function stapA(nalus: readonly Uint8Array[]): Uint8Array {
  const nri = Math.max(...nalus.map((n) => n[0]! & 0x60));
  return Uint8Array.from([nri | 24, ...nalus.flatMap((n) => [n.length >> 8, n.length & 0xff, ...n])]);
}

/** RFC 6184 §5.8 FU-A packets of `nal` split at the given body offsets (indicator F|NRI|28, header S|E|type). */
function fuA(nal: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const edges = [1, ...cuts, nal.length];
  return edges.slice(0, -1).map((from, i) => {
    const header = (i === 0 ? 0x80 : 0) | (i === edges.length - 2 ? 0x40 : 0) | nalType(nal);
    return Uint8Array.from([(nal[0]! & 0xe0) | 28, header, ...nal.subarray(from, edges[i + 1])]);
  });
}

/** An H.264 NAL unit: header (F=0, nri, type), then `size - 1` bytes counting up from `seed`. */
function nal(type: number, size: number, nri = 3, seed = 0): Uint8Array {
  const n = new Uint8Array(size);
  n[0] = (nri << 5) | type;
  for (let i = 1; i < size; i++) n[i] = (seed + i) & 0xff;
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Real captures
// ---------------------------------------------------------------------------------------------------------------

/**
 * What each sender puts in its access units (test/fixtures/rtp/README.md): the NAL types of the three IDR access
 * units, and of every other access unit.
 */
const SENDERS = {
  // libx264 default preset, in-band headers: ffmpeg's rtp muxer puts SPS, PPS (and, first, x264's SEI) in a STAP-A in
  // front of the IDR. One slice per picture.
  'ffmpeg-h264': { idr: [[7, 8, 6, 5], [7, 8, 5], [7, 8, 5]], other: [1] },
  // The same x264 -tune zerolatency MP4 twice: sliced threads, two slices per picture; SPS/PPS only in avcC, so none
  // in-band (they come from the SDP); x264's SEI only in the first access unit.
  'ffmpeg-h264-copy': { idr: [[6, 5, 5], [5, 5], [5, 5]], other: [1, 1] },
  // rtph264pay config-interval=-1 puts [SPS, PPS] before EACH IDR slice, so twice per keyframe, mid access unit.
  'gst-h264-x264': { idr: [[6, 7, 8, 5, 7, 8, 5], [7, 8, 5, 7, 8, 5], [7, 8, 5, 7, 8, 5]], other: [1, 1] },
  // openh264 emits SPS/PPS itself and the payloader adds its own: both pairs, then the single IDR slice.
  'gst-h264': { idr: [[7, 8, 7, 8, 5], [7, 8, 7, 8, 5], [7, 8, 7, 8, 5]], other: [1] },
} as const;
type Sender = keyof typeof SENDERS;
const NAMES = Object.keys(SENDERS) as Sender[];

const fixtures = new Map(NAMES.map((name) => [name, loadFixture(name)]));
const fixture = (name: Sender): Fixture => fixtures.get(name)!;
const depacketized = new Map(
  NAMES.map((name) => [name, accessUnits(fixture(name)).map((au, i) => unwrap(depacketizeH264(au), `${name} access unit ${i}`))]),
);
const unitsOf = (name: Sender): Uint8Array[][] => depacketized.get(name)!;

/** The SDP's sprop-parameter-sets (RFC 6184 §8.1: base64 NAL units, comma-separated), or [] when it has none. */
function spropParameterSets(f: Fixture): Uint8Array[] {
  const sprop = /sprop-parameter-sets=([^;\s]+)/.exec(f.sdp ?? '')?.[1];
  return sprop === undefined ? [] : sprop.split(',').map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
}

/** The access unit without SPS/PPS that come after its first slice (what rtph264pay inserts before later slices). */
function withoutLateParameterSets(au: readonly Uint8Array[]): Uint8Array[] {
  const firstSlice = au.findIndex((n) => nalType(n) === 1 || nalType(n) === 5);
  return au.filter((n, i) => firstSlice < 0 || i <= firstSlice || (nalType(n) !== 7 && nalType(n) !== 8));
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-depacketize-h264-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Probe {
  frames: number;
  keyframes: number;
  width: number | undefined;
  height: number | undefined;
}

/** Real ffprobe decodes every frame of an Annex B H.264 stream (-count_frames). Any decoder message fails the test. */
async function probeAnnexB(stream: Uint8Array, file: string): Promise<Probe> {
  const p = path.join(dir, file);
  writeFileSync(p, stream);
  const args = ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height:frame=key_frame', '-of', 'json', '-f', 'h264', p];
  const r = await execa(ffprobePath(), args, { reject: false, stdin: 'ignore', timeout: 30_000 });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  expect(String(r.stderr)).toBe('');
  const json = JSON.parse(String(r.stdout)) as {
    streams: { nb_read_frames?: string; width?: number; height?: number }[];
    frames: { key_frame: number }[];
  };
  expect(json.streams.length).toBe(1);
  const s = json.streams[0]!;
  return {
    frames: Number(s.nb_read_frames),
    keyframes: json.frames.filter((f) => f.key_frame === 1).length,
    width: s.width,
    height: s.height,
  };
}

describe.each(NAMES)('capture %s', (name) => {
  const f = fixture(name);
  const units = unitsOf(name);
  const idrIndices = units.flatMap((au, i) => (au.some((n) => nalType(n) === 5) ? [i] : []));

  it('every access unit depacketizes, one per encoded frame, and the IDR ones are exactly the keyframes', () => {
    expect(units.length).toBe(f.meta.expect.frames);
    expect(idrIndices.length).toBe(f.meta.expect.keyframes);
    expect(idrIndices).toEqual([0, 25, 50]); // 75 frames at -g 25, closed GOPs
    for (const au of units) expectWellFormed({ ok: true, value: au });
  });

  it("the NAL types are what the sender is known to put in (test/fixtures/rtp/README.md)", () => {
    const expected = SENDERS[name];
    expect(idrIndices.map((i) => units[i]!.map(nalType))).toEqual(expected.idr);
    for (const [i, au] of units.entries()) if (!idrIndices.includes(i)) expect(au.map(nalType), `access unit ${i}`).toEqual(expected.other);
  });

  it('lengthPrefixed gives AVC samples that splitLengthPrefixed reads back into the same NAL units', () => {
    for (const au of units) {
      const sample = lengthPrefixed(au);
      expect(sample.length).toBe(au.reduce((n, u) => n + 4 + u.length, 0));
      expect(splitLengthPrefixed(sample, 4)).toEqual(au);
    }
  });

  it('real ffprobe decodes the access units written as Annex B: every frame, 320x180, 3 keyframes', async () => {
    // ffmpeg -c:v copy sends no SPS/PPS in-band: a reader gets them from the SDP, as the relay must give them.
    const params = spropParameterSets(f);
    expect(params.map(nalType)).toEqual(name === 'ffmpeg-h264-copy' ? [7, 8] : []);
    const aus = units.map(withoutLateParameterSets);
    // Only GStreamer on a multi-slice stream has SPS/PPS after a slice (see the next test); the others lose nothing.
    if (name !== 'gst-h264-x264') expect(aus).toEqual(units);
    const probe = await probeAnnexB(annexB([...params, ...aus.flat()]), `${name}.h264`);
    expect(probe).toEqual({ frames: f.meta.expect.frames, keyframes: f.meta.expect.keyframes, width: 320, height: 180 });
  });
});

describe('what the captures show about the depacketized streams', () => {
  it('ffmpeg -c:v copy cannot be decoded without the SDP parameter sets: ffprobe finds no picture size', async () => {
    const p = path.join(dir, 'copy-without-sprop.h264');
    writeFileSync(p, annexB(unitsOf('ffmpeg-h264-copy').flat()));
    const r = await execa(ffprobePath(), ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'json', '-f', 'h264', p], {
      reject: false,
      stdin: 'ignore',
    });
    const s = (JSON.parse(String(r.stdout)) as { streams: { width?: number; nb_read_frames?: string }[] }).streams[0];
    expect(s?.width ?? 0).toBe(0);
    expect(Number(s?.nb_read_frames ?? 0)).toBe(0);
    expect(String(r.stderr)).toContain('non-existing PPS 0 referenced');
  });

  it('GStreamer on multi-slice x264: the SPS/PPS it repeats before the 2nd IDR slice split each keyframe in two for ffprobe', async () => {
    // H.264 §7.4.1.2.3: an SPS or PPS after a picture's VCL NAL units begins the next access unit, so a decoder
    // reading the access unit as an Annex B stream ends the picture there. 75 frames become 78, 3 keyframes 6. The
    // access unit itself (one RTP timestamp, one marker) is right; whoever writes it out as a byte stream must drop
    // or hoist these repeats. The depacketizer returns the NAL units as sent.
    const probe = await probeAnnexB(annexB(unitsOf('gst-h264-x264').flat()), 'gst-h264-x264-as-sent.h264');
    expect(probe).toEqual({ frames: 78, keyframes: 6, width: 320, height: 180 });
  });

  it('two payloaders, one bitstream: ffmpeg -c:v copy and GStreamer rtph264pay give byte-identical slices and SEI', () => {
    // Both captures send the same x264 MP4 (README.md). Apart from the SPS/PPS GStreamer adds, the NAL units of
    // every access unit must match byte for byte, however differently each one aggregated and fragmented them.
    const params = (n: Uint8Array): boolean => nalType(n) === 7 || nalType(n) === 8;
    const ffmpeg = unitsOf('ffmpeg-h264-copy');
    const gst = unitsOf('gst-h264-x264');
    expect(gst.length).toBe(ffmpeg.length);
    for (const [i, au] of ffmpeg.entries()) expect(gst[i]!.filter((n) => !params(n)), `access unit ${i}`).toEqual(au);
    // ...and GStreamer's in-band SPS/PPS are exactly the SDP's sprop-parameter-sets ffmpeg wrote from the avcC.
    const sprop = spropParameterSets(fixture('ffmpeg-h264-copy'));
    for (const au of gst) {
      const sets = au.filter(params);
      for (let k = 0; k < sets.length; k += 2) expect(sets.slice(k, k + 2)).toEqual(sprop);
    }
  });

  it('the captures exercise all three packet kinds: single NAL units, STAP-A and FU-A', () => {
    const kinds = new Set(NAMES.flatMap((n) => accessUnits(fixture(n)).flat().map((p) => nalType(p))));
    expect(kinds.has(1) || kinds.has(5) || kinds.has(6)).toBe(true);
    expect(kinds.has(24)).toBe(true);
    expect(kinds.has(28)).toBe(true);
    for (const k of kinds) expect([1, 5, 6, 7, 8, 24, 28]).toContain(k);
  });

  it('never throws on bit-flipped, truncated, dropped or duplicated packets of the real access units (fast-check)', () => {
    const aus = NAMES.flatMap((n) => accessUnits(fixture(n)));
    fc.assert(
      fc.property(
        fc.nat(aus.length - 1),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('flip', 'truncate', 'drop', 'duplicate'),
        (auIndex, packetSeed, byteSeed, value, how) => {
          const au = aus[auIndex]!.map((p) => p.slice());
          const k = packetSeed % au.length;
          const p = au[k]!;
          if (how === 'flip' && p.length > 0) p[byteSeed % p.length] = p[byteSeed % p.length]! ^ value;
          if (how === 'truncate') au[k] = p.subarray(0, byteSeed % (p.length + 1));
          if (how === 'drop') au.splice(k, 1);
          if (how === 'duplicate') au.splice(k, 0, p);
          expectWellFormed(depacketizeH264(au));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Hand-made payloads
// ---------------------------------------------------------------------------------------------------------------

describe('depacketizeH264: well-formed payloads', () => {
  it('§5.6 single NAL unit packets: the payload is the NAL unit, returned as a view (no copy)', () => {
    const idr = nal(5, 40);
    const nonIdr = nal(1, 3, 2);
    const r = unwrap(depacketizeH264([idr, nonIdr]), 'single');
    expect(r).toEqual([idr, nonIdr]);
    expect(r[0]).toBe(idr);
    expect(r[1]).toBe(nonIdr);
  });

  it('a one-byte NAL unit (a header and nothing else) is still a NAL unit', () => {
    expect(unwrap(depacketizeH264([bytes(0x09)]), 'aud')).toEqual([bytes(0x09)]);
  });

  it('§5.7.1 STAP-A with two members: each a view of the packet at its offset', () => {
    const sps = nal(7, 10);
    const pps = nal(8, 4);
    const packet = stapA([sps, pps]);
    expect(Array.from(packet.subarray(0, 3))).toEqual([0x78, 0, 10]); // F=0 NRI=3 type 24, then the first size
    const r = unwrap(depacketizeH264([packet]), 'stap-a');
    expect(r).toEqual([sps, pps]);
    expect(r.map((n) => [n.buffer === packet.buffer, n.byteOffset - packet.byteOffset])).toEqual([
      [true, 3],
      [true, 15],
    ]);
  });

  it('§5.8 FU-A in three parts: one new NAL unit with the header rebuilt from indicator F|NRI and FU-header type', () => {
    const idr = nal(5, 3000, 2);
    const parts = fuA(idr, [1000, 2000]);
    expect(parts.map((p) => [p[0], p[1]])).toEqual([
      [0x5c, 0x85], // NRI 2, type 28 | S, type 5
      [0x5c, 0x05],
      [0x5c, 0x45], // E
    ]);
    const r = unwrap(depacketizeH264(parts), 'fu-a');
    expect(r).toEqual([idr]);
    expect(r[0]![0]).toBe(0x45);
  });

  it('the FU header R bit is ignored (§5.8: "MUST be ignored by the receiver")', () => {
    const idr = nal(5, 20);
    const parts = fuA(idr, [10]);
    for (const p of parts) p[1] = p[1]! | 0x20;
    expect(unwrap(depacketizeH264(parts), 'R bit')).toEqual([idr]);
  });

  it('an FU-A fragment may be empty (only its two header bytes)', () => {
    const idr = nal(5, 20);
    const [start, end] = fuA(idr, [10]);
    const empty = bytes(start![0]!, 0x05);
    expect(unwrap(depacketizeH264([start!, empty, end!]), 'empty fragment')).toEqual([idr]);
  });

  it('a whole access unit as ffmpeg sends a keyframe: STAP-A [SPS, PPS, SEI], the IDR in FU-A, then a slice', () => {
    const sps = nal(7, 26);
    const pps = nal(8, 6);
    const sei = nal(6, 30, 0);
    const idr = nal(5, 4000);
    const slice = nal(1, 100, 2);
    const payloads = [stapA([sps, pps, sei]), ...fuA(idr, [1458, 2916]), slice];
    expect(unwrap(depacketizeH264(payloads), 'keyframe')).toEqual([sps, pps, sei, idr, slice]);
  });

  it('two FU-A NAL units back to back (two slices of one picture)', () => {
    const a = nal(5, 2000, 3, 1);
    const b = nal(5, 1500, 3, 2);
    expect(unwrap(depacketizeH264([...fuA(a, [1000]), ...fuA(b, [700, 1400])]), 'two FU-A')).toEqual([a, b]);
  });
});

describe('depacketizeH264: FU-A fragments lost', () => {
  const idr = nal(5, 3000);
  const [start, middle, end] = fuA(idr, [1000, 2000]) as [Uint8Array, Uint8Array, Uint8Array];

  it('missing start: a middle or end fragment with no start before it', () => {
    expectError(depacketizeH264([middle, end]), 'fragment-lost', /packet 0 continues an FU-A whose start/);
    expectError(depacketizeH264([end]), 'fragment-lost');
    expectError(depacketizeH264([nal(1, 10), end]), 'fragment-lost', /packet 1/);
  });

  it('missing end: the access unit ends inside the FU-A, or another packet comes before its end', () => {
    expectError(depacketizeH264([start, middle]), 'fragment-lost', /ends inside the FU-A started in packet 0/);
    expectError(depacketizeH264([start]), 'fragment-lost');
    expectError(depacketizeH264([start, middle, nal(1, 10)]), 'fragment-lost', /packet 2 \(type 1\)/);
    expectError(depacketizeH264([start, stapA([nal(7, 5)])]), 'fragment-lost');
  });

  it("a new start while one is open (this one's end and maybe the other's middle are missing)", () => {
    const other = fuA(nal(5, 1500, 3, 9), [700]);
    expectError(depacketizeH264([start, middle, ...other]), 'fragment-lost', /packet 2 starts an FU-A while the one started in packet 0/);
  });

  it('a fragment of another NAL unit type continuing the open one (the end of one and start of the next lost)', () => {
    const sliceEnd = fuA(nal(1, 3000), [1000, 2000])[2]!;
    expectError(depacketizeH264([start, middle, sliceEnd]), 'fragment-lost', /type 1 NAL unit inside the type 5/);
  });

  it('missing MIDDLE with start and end present is NOT detectable from payloads: the caller checks sequence numbers', () => {
    // FU-A fragments carry no offset (only interleaved-mode FU-B has a DON), so S + E reassemble into a NAL unit of
    // the right shape and the wrong content. The hub only calls depacketizeH264 on packets with contiguous sequence
    // numbers, which is what rules this out; pin the behaviour so nobody mistakes it for a check.
    const r = unwrap(depacketizeH264([start, end]), 'no middle');
    expect(r.length).toBe(1);
    expect(r[0]!.length).toBe(idr.length - 1000);
    expect(r[0]).toEqual(Uint8Array.from([idr[0]!, ...idr.subarray(1, 1000), ...idr.subarray(2000)]));
  });
});

describe('depacketizeH264: malformed, truncated and unsupported payloads', () => {
  it('empty payload → truncated; no payloads at all → malformed (an access unit with no NAL unit)', () => {
    expectError(depacketizeH264([new Uint8Array(0)]), 'truncated', /packet 0 .*empty/);
    expectError(depacketizeH264([nal(1, 5), new Uint8Array(0)]), 'truncated', /packet 1/);
    expectError(depacketizeH264([]), 'malformed', /no NAL unit/);
  });

  it('forbidden (F) bit set: on a single NAL unit, an FU indicator, a STAP-A header or a STAP-A member → malformed', () => {
    expectError(depacketizeH264([bytes(0x80 | 0x65, 1, 2)]), 'malformed', /forbidden/);
    const parts = fuA(nal(5, 30), [15]);
    const middle = parts[1]!;
    middle[0] = middle[0]! | 0x80;
    expectError(depacketizeH264(parts), 'malformed', /packet 1 .*forbidden/);
    expectError(depacketizeH264([bytes(0x80 | 0x78, 0, 1, 0x67)]), 'malformed', /forbidden/);
    expectError(depacketizeH264([bytes(0x78, 0, 1, 0x67, 0, 2, 0x80 | 0x68, 0)]), 'malformed', /STAP-A has the forbidden/);
  });

  it('types 0, 30 and 31 (undefined in RFC 6184 Table 1) → malformed', () => {
    for (const type of [0, 30, 31]) expectError(depacketizeH264([bytes(0x60 | type, 1, 2, 3)]), 'malformed', new RegExp(`type ${type}`));
  });

  it('STAP-B, MTAP16, MTAP24, FU-B (interleaved mode) → unsupported, naming the type', () => {
    const names: [number, string][] = [
      [25, 'STAP-B'],
      [26, 'MTAP16'],
      [27, 'MTAP24'],
      [29, 'FU-B'],
    ];
    for (const [type, label] of names) {
      expectError(depacketizeH264([bytes(0x60 | type, 0, 0, 0, 1, 0x65)]), 'unsupported', new RegExp(`${label} \\(type ${type}\\).*packetization-mode=2`));
    }
  });

  it('FU-A: S and E both set → malformed; a 1-byte FU-A → truncated; a fragmented type outside 1-23 → malformed', () => {
    expectError(depacketizeH264([bytes(0x7c, 0xc5, 1, 2)]), 'malformed', /both the start and the end bit/);
    expectError(depacketizeH264([bytes(0x7c)]), 'truncated');
    for (const t of [0, 24, 28, 31]) expectError(depacketizeH264([bytes(0x7c, 0x80 | t, 1), bytes(0x7c, 0x40 | t, 2)]), 'malformed', /not 1-23/);
  });

  it('STAP-A: sizes running past the end → truncated, a zero size → malformed', () => {
    expectError(depacketizeH264([bytes(0x78)]), 'truncated', /inside the size/); // no aggregation unit at all
    expectError(depacketizeH264([bytes(0x78, 0)]), 'truncated', /inside the size/); // half a size
    expectError(depacketizeH264([bytes(0x78, 0, 5, 0x67, 1)]), 'truncated', /5 bytes runs past/);
    expectError(depacketizeH264([bytes(0x78, 0, 1, 0x67, 0, 3, 0x68)]), 'truncated', /3 bytes runs past/); // 2nd member
    expectError(depacketizeH264([bytes(0x78, 0, 1, 0x67, 0)]), 'truncated', /inside the size/); // a trailing byte
    expectError(depacketizeH264([bytes(0x78, 0, 0)]), 'malformed', /size 0/);
    expectError(depacketizeH264([bytes(0x78, 0, 1, 0x67, 0, 0, 0, 1, 0x68)]), 'malformed', /size 0/);
  });

  it('STAP-A members must be NAL units (types 1-23): no nested aggregation or fragment, no type 0', () => {
    for (const t of [0, 24, 28, 30]) expectError(depacketizeH264([bytes(0x78, 0, 2, 0x60 | t, 1)]), 'malformed', new RegExp(`type ${t}, which is not 1-23`));
  });

  it('an error in any packet fails the whole access unit, even after good NAL units', () => {
    expectError(depacketizeH264([stapA([nal(7, 5), nal(8, 3)]), nal(5, 50), bytes(0x7a)]), 'unsupported');
  });
});

describe('depacketizeH264: the size bound', () => {
  it('too-large when the NAL units of the access unit pass maxBytes; exactly maxBytes is fine', () => {
    expect(unwrap(depacketizeH264([nal(1, 10)], 10), 'single at bound')).toEqual([nal(1, 10)]);
    expectError(depacketizeH264([nal(1, 11)], 10), 'too-large', /11 bytes, over the 10-byte bound/);
    expectError(depacketizeH264([nal(1, 6), nal(1, 5)], 10), 'too-large');
    expect(unwrap(depacketizeH264([stapA([nal(7, 6), nal(8, 4)])], 10), 'stap at bound').length).toBe(2);
    expectError(depacketizeH264([stapA([nal(7, 6), nal(8, 5)])], 10), 'too-large');
    const idr = nal(5, 10);
    expect(unwrap(depacketizeH264(fuA(idr, [4, 7]), 10), 'fu-a at bound')).toEqual([idr]);
    expectError(depacketizeH264(fuA(nal(5, 11), [4, 7]), 10), 'too-large');
    expectError(depacketizeH264([nal(7, 5), ...fuA(nal(5, 6), [3])], 10), 'too-large');
  });

  it(`the default bound is MAX_UNIT_BYTES (${MAX_UNIT_BYTES}): an FU-A that keeps going is refused before it is built`, () => {
    // One middle fragment object repeated: 8 MiB+ of input costs 1.5 kB here, and the bound is hit mid-way, before
    // the end fragment and before any buffer of that size is allocated.
    const body = 1458;
    const middle = new Uint8Array(2 + body).fill(7);
    middle[0] = 0x7c;
    middle[1] = 0x05;
    const n = Math.ceil(MAX_UNIT_BYTES / body) + 1;
    const payloads = [bytes(0x7c, 0x85, 1), ...Array.from({ length: n }, () => middle), bytes(0x7c, 0x45, 2)];
    expectError(depacketizeH264(payloads), 'too-large', new RegExp(`over the ${MAX_UNIT_BYTES}-byte bound`));
    // Just under the bound it is reassembled.
    const fits = Math.floor((MAX_UNIT_BYTES - 3) / body);
    const ok = unwrap(depacketizeH264([bytes(0x7c, 0x85, 1), ...Array.from({ length: fits }, () => middle), bytes(0x7c, 0x45, 2)]), 'under the bound');
    expect(ok[0]!.length).toBe(3 + fits * body);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------------

/** A NAL unit with a valid header (F=0, any NRI, type 1-23) and 1..5000 bytes in all. */
const nalUnit = fc
  .record({ nri: fc.integer({ min: 0, max: 3 }), type: fc.integer({ min: 1, max: 23 }), body: fc.uint8Array({ maxLength: 4999 }) })
  .map(({ nri, type, body }) => {
    const n = new Uint8Array(1 + body.length);
    n[0] = (nri << 5) | type;
    n.set(body, 1);
    return n;
  });
const maxPayload = fc.oneof(fc.constantFrom(3, 100, MAX_RTP_PAYLOAD, 1460), fc.integer({ min: 3, max: 2000 }));

describe('depacketizeH264: properties (fast-check)', () => {
  it('h264Payloads (packetize.ts) then depacketizeH264 gives back exactly the NAL units', () => {
    fc.assert(
      fc.property(fc.array(nalUnit, { minLength: 1, maxLength: 8 }), maxPayload, (nalus, max) => {
        const payloads = h264Payloads(nalus, max).map(payloadBytes);
        for (const p of payloads) expect(p.length).toBeLessThanOrEqual(max);
        expect(unwrap(depacketizeH264(payloads), 'round trip')).toEqual(nalus);
      }),
      { numRuns: 300 },
    );
  });

  it('with small NAL units aggregated into STAP-As (as ffmpeg does) and large ones in FU-A, the NAL units come back', () => {
    const small = fc.record({ n: nalUnit, aggregate: fc.boolean() }).map(({ n, aggregate }) => ({ n: n.subarray(0, 1 + (n.length % 300)), aggregate }));
    const item = fc.oneof(small, fc.record({ n: nalUnit, aggregate: fc.constant(false) }));
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), fc.integer({ min: 100, max: 1460 }), (items, max) => {
        const payloads: Uint8Array[] = [];
        let group: Uint8Array[] = [];
        let groupSize = 1;
        const flush = (): void => {
          if (group.length > 0) payloads.push(stapA(group));
          group = [];
          groupSize = 1;
        };
        for (const { n, aggregate } of items) {
          if (aggregate && 3 + n.length <= max) {
            if (groupSize + 2 + n.length > max) flush();
            group.push(n);
            groupSize += 2 + n.length;
          } else {
            flush();
            payloads.push(...h264Payloads([n], max).map(payloadBytes));
          }
        }
        flush();
        expect(unwrap(depacketizeH264(payloads), 'mixed round trip')).toEqual(items.map((i) => i.n));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary payload lists, and returns ok or a known error code', () => {
    // Bias the first byte towards the interesting types, so the STAP-A and FU-A paths see plenty of garbage too.
    const payload = fc.tuple(fc.constantFrom(0x01, 0x05, 0x18, 0x1c, 0x5c, 0x78, 0x7c, 0x9c, 0x19, 0x00, 0x1f), fc.uint8Array({ maxLength: 40 }), fc.boolean()).map(
      ([first, rest, biased]) => (biased ? Uint8Array.from([first, ...rest]) : rest),
    );
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 10 }), fc.integer({ min: 0, max: 200 }), (payloads, max) => {
        expectWellFormed(depacketizeH264(payloads));
        expectWellFormed(depacketizeH264(payloads, max));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('lengthPrefixed (ISO/IEC 14496-15 §5.3.2 AVC sample, 4-byte lengths)', () => {
  it('writes each NAL unit behind its 4-byte big-endian length, in one buffer', () => {
    expect(Array.from(lengthPrefixed([bytes(0x65, 1), bytes(0x41)]))).toEqual([0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41]);
    expect(lengthPrefixed([]).length).toBe(0);
    const big = nal(5, 0x012345);
    expect(Array.from(lengthPrefixed([big]).subarray(0, 5))).toEqual([0, 0x01, 0x23, 0x45, 0x65]);
    // All four length bytes: a NAL unit over 16 MiB (more than depacketizeH264 lets through, but the form allows it).
    const huge = lengthPrefixed([bytes(1, 2), new Uint8Array(0x01000002)]);
    expect(Array.from(huge.subarray(0, 10))).toEqual([0, 0, 0, 2, 1, 2, 0x01, 0x00, 0x00, 0x02]);
    expect(huge.length).toBe(6 + 4 + 0x01000002);
  });

  it('round-trips with splitLengthPrefixed (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 10 }), (nalus) => {
        const sample = lengthPrefixed(nalus);
        expect(sample.length).toBe(nalus.reduce((n, u) => n + 4 + u.length, 0));
        expect(splitLengthPrefixed(sample, 4)).toEqual(nalus);
      }),
      { numRuns: 300 },
    );
  });

  it('the sample of a depacketized access unit reads back as the same NAL units', () => {
    fc.assert(
      fc.property(fc.array(nalUnit, { minLength: 1, maxLength: 8 }), maxPayload, (nalus, max) => {
        const au = unwrap(depacketizeH264(h264Payloads(nalus, max).map(payloadBytes)), 'au');
        expect(splitLengthPrefixed(lengthPrefixed(au), 4)).toEqual(nalus);
      }),
      { numRuns: 100 },
    );
  });
});
