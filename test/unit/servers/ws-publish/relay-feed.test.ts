// The in-process relay feed on the fixture file (real x264 + libopus output in per-frame fragments): what players of
// the relay receive, checked with the relay's own RTP/SDP readers and an independent H.264 depacketizer.
import { describe, expect, it } from 'vitest';
import { parseAvcC } from '../../../../shared/fmp4/avc.ts';
import { parseInitSegment, parseMediaSegment } from '../../../../shared/fmp4/reader.ts';
import { RelayFeed } from '../../../../server/servers/ws-publish/relay-feed.ts';
import { silentLogger } from '../../../../server/log.ts';
import { parseRtpHeader } from '../../../../server/protocols/rtp/packet.ts';
import { parseSdp, writeSdp, codecOf, h264SpropParameterSets, fmtpParams } from '../../../../server/protocols/rtsp/sdp.ts';
import type { AccessUnit, LazyUnit } from '../../../../server/stream/access-unit.ts';
import type { ReaderSink } from '../../../../server/stream/reader.ts';
import { StreamRegistry } from '../../../../server/stream/registry.ts';
import { fixture, videoFixture, writeFixtureFile } from '../../../support/fmp4-fixtures.ts';
import { splitFragmentedFile } from '../../../support/fmp4-split.ts';

class Sink implements ReaderSink {
  units: AccessUnit[] = [];
  rtcp: Array<{ track: number; packet: Uint8Array }> = [];
  ended: string[] = [];
  sendUnit(u: AccessUnit): void {
    this.units.push(u);
  }
  sendRtcp(track: number, packet: Uint8Array): void {
    this.rtcp.push({ track, packet });
  }
  backlog(): number {
    return 0;
  }
  end(reason: string): void {
    this.ended.push(reason);
  }
}

const file = writeFixtureFile({ video: true, audio: true });
const init = parseInitSegment(file.init);
if (!init.ok) throw new Error(init.error.message);
const info = init.value;

function setup(now = () => 1_000_000) {
  const registry = new StreamRegistry({ logger: silentLogger, graceMs: 5_000, now });
  const feed = new RelayFeed({ name: 'cam', info, registry, remote: '127.0.0.1:5000', logger: silentLogger, now, random: () => 0.25 });
  return { registry, feed };
}

function feedAll(feed: RelayFeed, count = file.fragments.length): void {
  for (const f of file.fragments.slice(0, count)) {
    const parsed = parseMediaSegment(f.bytes, info);
    if (!parsed.ok) throw new Error(parsed.error.message);
    feed.write(f.bytes, parsed.value);
  }
}

/** NAL units of a video access unit, reassembled from single NAL unit packets and FU-A fragments (RFC 6184). */
function nalsOf(unit: AccessUnit): number[] {
  const types: number[] = [];
  for (const p of unit.packets) {
    const h = parseRtpHeader(p)!;
    const payload = p.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    const type = payload[0]! & 0x1f;
    if (type !== 28) types.push(type);
    else if (payload[1]! & 0x80) types.push(payload[1]! & 0x1f);
  }
  return types;
}

describe('RelayFeed', () => {
  it('announces what ffmpeg would: H264 with the avcC parameter sets, opus/48000/2 with sprop-stereo', () => {
    const { feed } = setup();
    // The SDP survives the relay's own parser unchanged.
    const parsed = parseSdp(writeSdp(feed.sdp));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const [video, audio] = parsed.value.media;
    expect(codecOf(video!)).toMatchObject({ kind: 'video', codec: 'H264', clockRate: 90_000 });
    const avc = parseAvcC(videoFixture().avcC);
    if (!avc.ok) throw new Error(avc.message);
    expect(h264SpropParameterSets(video!.fmtp)).toEqual([...avc.value.sps, ...avc.value.pps]);
    const sps = avc.value.sps[0]!;
    expect(fmtpParams(video!.fmtp).get('profile-level-id')).toBe(Buffer.from(sps.subarray(1, 4)).toString('hex').toUpperCase());
    expect(fmtpParams(video!.fmtp).get('packetization-mode')).toBe('1');
    expect(codecOf(audio!)).toMatchObject({ kind: 'audio', codec: 'OPUS', clockRate: 48_000, channels: 2 });
    expect(audio!.fmtp).toBe(info.tracks[1]!.channels === 2 ? 'sprop-stereo=1' : undefined);
  });

  it('publishes into the registry; players get every frame with its timing, SPS/PPS ahead of each IDR, and sender reports', () => {
    const { registry, feed } = setup();
    expect(feed.attach('ws-1')).toEqual({ ok: true });
    const stream = registry.get('cam')!;
    expect(stream.publisher).toMatchObject({ protocol: 'websocket', remote: '127.0.0.1:5000' });
    const sink = new Sink();
    stream.addReader('p', sink, new Set([0, 1]));
    feedAll(feed);

    const video = sink.units.filter((u) => u.track === 0);
    const audio = sink.units.filter((u) => u.track === 1);
    const vSamples = file.fragments.filter((f) => f.track === 'video').flatMap((f) => f.samples);
    // A reader that joins before anything is cached waits for the first keyframe: the audio written ahead of the first
    // video frame is not sent to it. From there on, every frame and audio packet arrives.
    const firstVideo = file.fragments.findIndex((f) => f.track === 'video');
    const aSamples = file.fragments.slice(firstVideo).filter((f) => f.track === 'audio').flatMap((f) => f.samples);
    expect(vSamples[0]!.keyframe).toBe(true);
    expect(video).toHaveLength(vSamples.length);
    expect(audio).toHaveLength(aSamples.length);
    for (const [i, u] of video.entries()) {
      expect(u.keyframe).toBe(vSamples[i]!.keyframe);
      const types = nalsOf(u);
      if (u.keyframe) {
        expect(types.slice(0, 2)).toEqual([7, 8]); // the parameter sets first, then the frame's own NAL units
        expect(types).toContain(5);
      }
      else expect(types).not.toContain(7);
      // The marker bit is on the last packet of each frame only (RFC 6184 §5.1).
      expect(u.packets.map((p) => parseRtpHeader(p)!.marker)).toEqual(u.packets.map((_, k) => k === u.packets.length - 1));
    }
    // RTP time advances with the sample times (same 90 kHz / 48 kHz clocks as the fixture's timescales).
    const vt = video.map((u) => u.timestamp);
    vSamples.forEach((s, i) => expect((vt[i]! - vt[0]! + 2 ** 32) % 2 ** 32).toBe(s.timestamp - vSamples[0]!.timestamp + (s.compositionOffset ?? 0)));
    const at = audio.map((u) => u.timestamp);
    aSamples.forEach((s, i) => expect((at[i]! - at[0]! + 2 ** 32) % 2 ** 32).toBe(s.timestamp - aSamples[0]!.timestamp));
    // Audio payloads are the Opus packets themselves.
    audio.forEach((u, i) => {
      const h = parseRtpHeader(u.packets[0]!)!;
      expect(u.packets[0]!.subarray(h.payloadOffset)).toEqual(aSamples[i]!.data);
    });
    // Sequence numbers run on without a gap per track.
    for (const units of [video, audio]) {
      const seqs = units.flatMap((u) => u.packets.map((p) => parseRtpHeader(p)!.sequenceNumber));
      seqs.slice(1).forEach((s, i) => expect(s).toBe((seqs[i]! + 1) & 0xffff));
    }
    // A sender report per track (after its first packet; the clock does not move here, so only one each).
    expect(sink.rtcp.map((r) => r.track).sort()).toEqual([0, 1]);
  });

  it('makes RTP packets only when something asks for them: a frame reader alone never packetizes; an RTSP player joining gets the cached group packetized, numbered without a gap', () => {
    const { registry, feed } = setup();
    expect(feed.attach('ws-1').ok).toBe(true);
    const stream = registry.get('cam')!;
    // A frame reader (HTTP, viewer, recorder, ffmpeg feed) takes samples, never packets.
    const frames: AccessUnit[] = [];
    stream.addReader('frames', { sendUnit: (u) => void frames.push(u), sendRtcp() {}, backlog: () => 0, end() {} }, new Set([0, 1]), 'player');
    feedAll(feed, 40);
    expect(frames.length).toBeGreaterThan(40);
    for (const u of frames) expect(stream.samplesOf(u)?.length, `unit ${u.order}`).toBeGreaterThan(0);
    expect(frames.every((u) => (u as LazyUnit).packetized === false)).toBe(true);
    // An RTSP player joins: the cached keyframe group is packetized for it, with the sequence numbers RTSP needs.
    const rtsp = new Sink();
    stream.addReader('rtsp', rtsp, new Set([0, 1]));
    feedAll(feed, file.fragments.length);
    const video = rtsp.units.filter((u) => u.track === 0);
    expect(video[0]?.keyframe).toBe(true);
    const seqs = video.flatMap((u) => u.packets.map((p) => parseRtpHeader(p)!.sequenceNumber));
    expect(seqs.length).toBeGreaterThan(video.length);
    expect(seqs.every((q, i) => i === 0 || q === ((seqs[i - 1]! + 1) & 0xffff))).toBe(true);
  });

  it('a fragment of several samples reaches each player in one held batch; a one-frame fragment is not held', () => {
    const { feed, registry } = setup();
    expect(feed.attach('s1').ok).toBe(true);
    const log: string[] = [];
    const sink = new Sink();
    Object.assign(sink, { hold: () => log.push('hold'), release: () => log.push('release') });
    const origSend = sink.sendUnit.bind(sink);
    sink.sendUnit = (u) => (log.push('unit'), origSend(u));
    registry.get('cam')!.addReader('p', sink, new Set([0, 1]));
    const multi = file.fragments.filter((f) => f.samples.length > 1).length;
    expect(multi).toBeGreaterThan(0);
    feedAll(feed);
    expect(log.filter((e) => e === 'hold')).toHaveLength(multi);
    // Every hold is released before the next one, with the batch's units in between.
    const batches = log.join(' ').split('hold').slice(1);
    for (const b of batches) expect(b).toMatch(/^( unit)+ release( unit)*\s*$/);
  });

  it('the sender reports of both tracks map media time to the same wall clock (A/V sync)', () => {
    const { registry, feed } = setup();
    feed.attach('ws-1');
    const sink = new Sink();
    registry.get('cam')!.addReader('p', sink, new Set([0, 1]));
    feedAll(feed);
    // What a player does (RFC 3550 §6.4.1): a packet's wall-clock time is the SR's NTP time plus its RTP time since.
    const wallOf = (track: number, rtp: number, clock: number): number => {
      const sr = sink.rtcp.find((r) => r.track === track)!.packet;
      const v = new DataView(sr.buffer, sr.byteOffset);
      const since = ((rtp - v.getUint32(16) + 2 ** 32) % 2 ** 32) / clock;
      return v.getUint32(8) + v.getUint32(12) / 2 ** 32 + since;
    };
    // The last video frame and the last audio packet: their wall-clock distance is their media-time distance.
    const lastV = sink.units.filter((u) => u.track === 0).at(-1)!;
    const lastA = sink.units.filter((u) => u.track === 1).at(-1)!;
    const vSample = file.fragments.filter((f) => f.track === 'video').at(-1)!.samples.at(-1)!;
    const aSample = file.fragments.filter((f) => f.track === 'audio').at(-1)!.samples.at(-1)!;
    const mediaDiff = (vSample.timestamp + (vSample.compositionOffset ?? 0)) / 90_000 - aSample.timestamp / 48_000;
    expect(wallOf(0, lastV.timestamp, 90_000) - wallOf(1, lastA.timestamp, 48_000)).toBeCloseTo(mediaDiff, 3);
  });

  it('AAC (RFC 3640): every AU in its own packet with the marker bit set, and its bytes after the AU header', () => {
    const aac = splitFragmentedFile(fixture('ffmpeg-frag-aac.mp4'));
    const aacInit = parseInitSegment(aac.init);
    if (!aacInit.ok) throw new Error(aacInit.error.message);
    const registry = new StreamRegistry({ logger: silentLogger, graceMs: 0 });
    const feed = new RelayFeed({ name: 'aac', info: aacInit.value, registry, remote: '127.0.0.1:1', logger: silentLogger });
    feed.attach('t');
    const sink = new Sink();
    const audioTrack = aacInit.value.tracks.findIndex((t) => t.kind === 'audio');
    // Audio only for this reader: it needs no keyframe to start.
    registry.get('aac')!.addReader('p', sink, new Set([audioTrack]));
    const aus: Uint8Array[] = [];
    for (const seg of aac.segments) {
      const parsed = parseMediaSegment(seg, aacInit.value);
      if (!parsed.ok) throw new Error(parsed.error.message);
      for (const t of parsed.value.tracks) if (t.trackId === aacInit.value.tracks[audioTrack]!.id) for (const s of t.sampleList) aus.push(seg.slice(s.offset, s.offset + s.size));
      feed.write(seg, parsed.value);
    }
    expect(aus.length).toBeGreaterThan(10);
    expect(sink.units).toHaveLength(aus.length);
    sink.units.forEach((u, i) => {
      expect(u.packets).toHaveLength(1);
      const h = parseRtpHeader(u.packets[0]!)!;
      expect(h.marker).toBe(true);
      expect(u.packets[0]!.subarray(h.payloadOffset + 4)).toEqual(aus[i]);
    });
  });

  it('a NAME taken by an RTSP publisher is refused; detach leaves the players for the grace period', () => {
    const { registry, feed } = setup();
    const other = new RelayFeed({ name: 'cam', info, registry, remote: '10.0.0.1:1', logger: silentLogger });
    expect(other.attach('rtsp-1').ok).toBe(true);
    expect(feed.attach('ws-1')).toMatchObject({ ok: false, refusal: { code: 'in-use' } });
    const sink = new Sink();
    registry.get('cam')!.addReader('p', sink, new Set([0]));
    other.detach();
    expect(registry.get('cam')?.state).toBe('waiting');
    // The page comes back with the same codecs: it takes the stream over and the player stays.
    expect(feed.attach('ws-2')).toEqual({ ok: true });
    expect(registry.get('cam')?.state).toBe('live');
    expect(sink.ended).toEqual([]);
    feedAll(feed, 10);
    expect(sink.units.length).toBeGreaterThan(0);
  });
});
