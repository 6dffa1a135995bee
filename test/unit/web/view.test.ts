// The viewer page's pure parts: the socket protocol's checks (shared/view-protocol.ts), the demuxer that turns what
// the server's SampleMuxer writes into WebCodecs chunks (web/view/demux.ts), and the live-edge measures
// (web/view/live-edge.ts).
import { describe, expect, it } from 'vitest';
import { SampleMuxer } from '../../../server/protocols/fmp4/sample-muxer.ts';
import type { Sample } from '../../../server/protocols/fmp4/sample.ts';
import { authSubprotocol, parseAuthSubprotocol, parseViewClientMessage, parseViewServerMessage, VIEW_AUTH_PREFIX, watchedStream } from '../../../shared/view-protocol.ts';
import { Demuxer, isInitSegment } from '../../../web/view/demux.ts';
import { LiveEdge } from '../../../web/view/live-edge.ts';
import { audioFixture, videoFixture } from '../../support/fmp4-fixtures.ts';

describe('view protocol messages', () => {
  it('takes every server message with its fields, and nothing with a field missing or of the wrong type', () => {
    const good = [
      { type: 'hello', version: 1, stream: 'cam', serverTime: 1_700_000_000_000 },
      { type: 'waiting', message: 'Nobody is broadcasting' },
      { type: 'live', message: 'live', init: true, tracks: [{ kind: 'video', codec: 'H264' }], leftOut: [{ kind: 'audio', codec: 'PCMA' }] },
      { type: 'sync', time: 12.5, at: 1_700_000_000_000, now: 1_700_000_000_020 },
      { type: 'ended', message: 'ended' },
      { type: 'error', code: 'unauthorized', message: 'wrong' },
    ];
    for (const m of good) expect(parseViewServerMessage(JSON.stringify(m))).toEqual({ ok: true, value: m });
    const bad = [
      { type: 'hello', version: '1', stream: 'cam', serverTime: 0 },
      { type: 'waiting' },
      { type: 'live', message: 'x', init: 'yes', tracks: [], leftOut: [] },
      { type: 'live', message: 'x', init: true, tracks: [{ kind: 'subtitle', codec: 'x' }], leftOut: [] },
      { type: 'sync', time: null, at: 0, now: 0 },
      { type: 'error', code: 'teapot', message: 'x' },
      { type: 'surprise' },
    ];
    for (const m of bad) expect(parseViewServerMessage(JSON.stringify(m)).ok, JSON.stringify(m)).toBe(false);
    expect(parseViewServerMessage('{').ok).toBe(false);
    expect(parseViewServerMessage(JSON.stringify({ type: 'waiting', message: 'x'.repeat(5000) })).ok).toBe(false);
  });

  it('takes pause and play from a page, and nothing else', () => {
    expect(parseViewClientMessage('{"type":"pause"}')).toEqual({ ok: true, value: { type: 'pause' } });
    expect(parseViewClientMessage('{"type":"play","extra":1}')).toEqual({ ok: true, value: { type: 'play' } });
    for (const t of ['{"type":"seek"}', '[]', 'null', '"pause"']) expect(parseViewClientMessage(t).ok, t).toBe(false);
  });

  it('carries credentials as an RFC 7230 token and reads them back; anything else is no credentials', () => {
    for (const [user, pass] of [['viewer', 'secret'], ['ünïcode', 'pa:ss:word'], ['a', ''], ['', 'x']] as const) {
      const p = authSubprotocol(user, pass);
      expect(p).toMatch(/^relaycast\.auth\.[A-Za-z0-9_-]*$/);
      expect(parseAuthSubprotocol(p)).toEqual({ username: user, password: pass });
    }
    for (const p of ['relaycast.view.v1', `${VIEW_AUTH_PREFIX}!!`, `${VIEW_AUTH_PREFIX}${btoa('nocolon')}`, `${VIEW_AUTH_PREFIX}${'A'.repeat(2000)}`, `${VIEW_AUTH_PREFIX}_w`]) {
      expect(parseAuthSubprotocol(p), p).toBeUndefined();
    }
  });

  it('names the stream of /watch/NAME only', () => {
    expect(watchedStream('/watch/cam.1')).toBe('cam.1');
    expect(watchedStream('/watch/a%20b')).toBe('a b');
    expect(watchedStream('/watch/')).toBeUndefined();
    expect(watchedStream('/watch/a/b')).toBeUndefined();
    expect(watchedStream('/watch/%E0%A4%A')).toBeUndefined();
  });
});

describe('Demuxer', () => {
  const v = videoFixture();
  const a = audioFixture();
  const videoSamples: Sample[] = v.samples.slice(0, 40).map((s) => ({ pts: s.timestamp + 90_000, dts: s.timestamp + 90_000, keyframe: s.keyframe, data: s.data }));
  const audioSamples: Sample[] = a.samples.slice(0, 20).map((s) => ({ pts: s.timestamp + 48_000, dts: s.timestamp + 48_000, keyframe: true, data: s.data }));

  it('reads what the server sends a viewer: decoder configurations from the init segment, one chunk per sample after', () => {
    const muxer = new SampleMuxer([
      { codec: 'h264', clockRate: 90000, avcC: v.avcC, width: 640, height: 360, version: 1 },
      { codec: 'opus', clockRate: 48000, channels: a.channels, version: 1 },
    ]);
    const d = new Demuxer();
    expect(isInitSegment(muxer.init)).toBe(true);
    const init = d.push(muxer.init);
    if (init.kind !== 'init') throw new Error(JSON.stringify(init));
    const [video, audio] = init.tracks;
    expect(video).toMatchObject({ kind: 'video', timescale: 90000, codedWidth: 640, codedHeight: 360, description: v.avcC });
    expect(video!.codec).toMatch(/^avc1\.[0-9a-f]{6}$/);
    expect(audio).toEqual({ kind: 'audio', trackId: 2, timescale: 48000, codec: 'opus', sampleRate: 48000, numberOfChannels: a.channels });

    const chunks = [];
    for (const [i, s] of videoSamples.entries()) {
      muxer.add(0, [s]);
      if (i < audioSamples.length) muxer.add(1, [audioSamples[i]!]);
      const f = muxer.fragment()!;
      const out = d.push(Uint8Array.from(Buffer.concat(f.chunks)));
      if (out.kind !== 'media') throw new Error(JSON.stringify(out));
      chunks.push(...out.chunks);
    }
    const vc = chunks.filter((c) => c.kind === 'video');
    expect(vc).toHaveLength(40);
    expect(vc[0]).toMatchObject({ key: true, timestamp: 1_000_000, decodeTime: 1, duration: 33_333 });
    expect(vc[1]!.timestamp).toBe(1_033_333);
    expect(vc.map((c) => c.key)).toEqual(videoSamples.map((s) => s.keyframe));
    expect(vc.every((c, i) => Buffer.compare(c.data, videoSamples[i]!.data) === 0)).toBe(true);
    const ac = chunks.filter((c) => c.kind === 'audio');
    expect(ac).toHaveLength(20);
    expect(ac[0]).toMatchObject({ timestamp: 1_000_000, decodeTime: 1, key: true });
    expect(ac.every((c, i) => Buffer.compare(c.data, audioSamples[i]!.data) === 0)).toBe(true);
  });

  it('says what is wrong with media before an init segment, or bytes that are not fMP4', () => {
    const d = new Demuxer();
    expect(d.push(new Uint8Array([0, 0, 0, 8, 0x6d, 0x6f, 0x6f, 0x66]))).toEqual({ kind: 'error', message: 'the server sent media before an init segment' });
    const muxer = new SampleMuxer([{ codec: 'h264', clockRate: 90000, avcC: v.avcC, width: 640, height: 360, version: 1 }]);
    expect(d.push(muxer.init).kind).toBe('init');
    expect(d.push(new Uint8Array([1, 2, 3]))).toMatchObject({ kind: 'error', message: expect.stringContaining('cannot read') });
  });
});

describe('LiveEdge', () => {
  it('is never behind in the burst that starts a stream, and is behind when chunks arrive later than their peers', () => {
    const e = new LiveEdge(500);
    // The cached group: 2 s of media arriving at once at t = 10 000 ms.
    for (let i = 0; i <= 60; i++) expect(e.arrived(i / 30, 10_000)).toBe(false);
    // Then live, one frame every 33 ms.
    for (let i = 61; i < 120; i++) expect(e.arrived(i / 30, 10_000 + (i - 60) * (1000 / 30))).toBe(false);
    // A background tab: 2 s pass, then a backlog arrives at once; its old part is behind, its newest is not.
    const now = 10_000 + 60 * (1000 / 30) + 2000;
    expect(e.arrived(120 / 30, now)).toBe(true);
    expect(e.arrived(170 / 30, now)).toBe(false);
  });

  it('lets its baseline drift slowly (clocks differ), not by a jump', () => {
    const e = new LiveEdge(500);
    e.arrived(0, 0);
    // 0.5 % slower arrival for 100 s: 500 ms late in total, within the drift allowance.
    expect(e.arrived(100, 100_500)).toBe(false);
    expect(e.arrived(101, 102_200)).toBe(true);
  });

  it('estimates latency from sync messages and the server clock offset', () => {
    const e = new LiveEdge();
    expect(e.latencyMs(1, 1000)).toBeUndefined();
    // The server clock is 5 s behind ours; messages take at least 10 ms.
    e.sync({ time: 10, at: 100_000, now: 100_020 }, 105_040);
    e.sync({ time: 11, at: 101_000, now: 101_005 }, 106_015);
    // Media time 11.5 s reached the server at 101 500 (server) = 106 510 (ours, with the 10 ms): shown at 106 600.
    expect(e.latencyMs(11.5, 106_600)).toBe(90);
  });
});
