// web/uplink.ts against a scripted socket: protocol order, refusals, reconnect with backoff and resume, and the
// backlog bound (drop video to the next keyframe, tell the caller to lower the bitrate).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import type { ServerMessage } from '../../../shared/protocol.ts';
import { Uplink, type UplinkEvents, type UplinkOptions } from '../../../web/uplink.ts';
import { audioFixture, videoFixture } from '../../support/fmp4-fixtures.ts';

class FakeSocket {
  readyState = 0;
  bufferedAmount = 0;
  binaryType = 'blob';
  sent: Array<string | Uint8Array> = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {}
  send(d: string | Uint8Array): void {
    this.sent.push(d);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  // Test drivers
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(m: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  texts(): Array<Record<string, unknown>> {
    return this.sent.filter((d): d is string => typeof d === 'string').map((d) => JSON.parse(d) as Record<string, unknown>);
  }
  binaries(): Uint8Array[] {
    return this.sent.filter((d): d is Uint8Array => typeof d !== 'string');
  }
}

const video = videoFixture();
const audio = audioFixture();
const accepted: ServerMessage = { type: 'accepted', version: 1, stream: 'cam', rtspPath: '/cam', rtspPort: 8554, outputs: [] };

function setup(o: Partial<UplinkOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const log: string[] = [];
  const events: UplinkEvents = {
    phase: (p, s) => log.push(`phase ${p}: ${s}`),
    accepted: () => log.push('accepted'),
    serverStats: () => log.push('stats'),
    keyframeNeeded: (r) => log.push(`keyframe: ${r}`),
    congestion: () => log.push('congestion'),
    sent: () => {},
    dropped: (v) => log.push(`dropped ${v ? 'video' : 'audio'}`),
    failed: (e) => log.push(`failed ${e.code}: ${e.message}`),
  };
  const uplink = new Uplink({
    url: 'ws://127.0.0.1:1/ws/publish',
    hello: { stream: 'cam', video: { codec: 'avc1.64001e', width: 640, height: 360, framerate: 30, bitrate: 1_000_000 }, audio: { codec: 'opus', sampleRate: 48000, channels: audio.channels } },
    tracks: {
      video: { kind: 'video', codec: 'avc1', avcC: video.avcC, width: 640, height: 360, timescale: 90_000 },
      audio: { kind: 'audio', codec: 'opus', channels: audio.channels, sampleRate: 48_000, timescale: 48_000 },
    },
    maxBacklog: () => 125_000,
    events,
    random: () => 0.5,
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s as unknown as WebSocket;
    },
    ...o,
  });
  return { uplink, sockets, log };
}

const v = (i: number) => video.samples[i]!;
const a = (i: number) => audio.samples[i]!;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Uplink', () => {
  it('sends hello, then the init segment on accepted, then media from the first keyframe', () => {
    const { uplink, sockets, log } = setup();
    uplink.start();
    const s = sockets[0]!;
    expect(s.binaryType).toBe('arraybuffer');
    s.open();
    expect(s.texts()).toEqual([{ type: 'hello', version: 1, stream: 'cam', video: expect.any(Object), audio: expect.any(Object) }]);
    uplink.sendVideo(v(0)); // not live yet: nothing goes out
    expect(s.binaries()).toHaveLength(0);
    s.receive(accepted);
    expect(log).toContain('phase live: Live.');
    expect(log).toContain('keyframe: a new connection starts at a keyframe');
    const init = parseInitSegment(s.binaries()[0]!);
    expect(init.ok).toBe(true);
    if (!init.ok) return;
    uplink.sendAudio(a(0)); // before the first video keyframe of the connection: dropped
    uplink.sendVideo({ ...v(1), keyframe: false }); // a delta before the keyframe: dropped
    uplink.sendVideo(v(0));
    uplink.sendAudio({ ...a(1), timestamp: 100 });
    uplink.sendAudio({ ...a(2), timestamp: 1060 });
    uplink.sendVideo({ ...v(1), timestamp: 3000 });
    const media = s.binaries().slice(1).map((b) => parseMediaSegment(b, init.value));
    expect(media.map((m) => (m.ok ? m.value.tracks.map((t) => [t.trackId, t.samples, t.keyframe]) : m.error.message))).toEqual([
      [[1, 1, true]],
      [[2, 2, true]], // two Opus packets per fragment
      [[1, 1, false]],
    ]);
  });

  it('refuses with the server sentence on a first refusal, without retrying', () => {
    const { uplink, sockets, log } = setup();
    uplink.start();
    sockets[0]!.open();
    sockets[0]!.receive({ type: 'refused', code: 'in-use', message: 'stream "cam" is already live from another tab or machine' });
    expect(log.at(-1)).toBe('failed refused: The server refused the stream: stream "cam" is already live from another tab or machine');
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(uplink.phase).toBe('failed');
  });

  it('reconnects with backoff after a drop, resumes with hello resume:true, and starts again at a keyframe', () => {
    const { uplink, sockets, log } = setup();
    uplink.start();
    sockets[0]!.open();
    sockets[0]!.receive(accepted);
    uplink.sendVideo(v(0));
    sockets[0]!.drop(1001, 'going away');
    expect(uplink.phase).toBe('reconnecting');
    expect(log.at(-1)).toMatch(/^phase reconnecting: The connection to the server was lost; reconnecting in 0\.5 s \(attempt 1 of 10\)/);
    vi.advanceTimersByTime(499);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const s = sockets[1]!;
    s.open();
    expect(s.texts()[0]).toMatchObject({ type: 'hello', resume: true });
    // In use: the server has not noticed the old socket is gone. Retried, with a longer delay.
    s.receive({ type: 'refused', code: 'in-use', message: 'in use' });
    expect(log.at(-1)).toMatch(/reconnecting in 1\.0 s \(attempt 2 of 10\)/);
    vi.advanceTimersByTime(1000);
    const t = sockets[2]!;
    t.open();
    t.receive(accepted);
    expect(uplink.phase).toBe('live');
    uplink.sendVideo({ ...v(1), timestamp: 6000 }); // a delta: the new connection waits for a keyframe
    expect(t.binaries()).toHaveLength(1); // only the init segment
    uplink.sendVideo({ ...v(0), timestamp: 9000 });
    expect(t.binaries()).toHaveLength(2);
  });

  it('counts the wait down once a second, and Retry now connects at once', () => {
    let clock = 0;
    const { uplink, sockets, log } = setup({ now: () => clock });
    uplink.start();
    for (let i = 0; i < 3; i++) {
      sockets[i]!.drop(1006);
      if (i < 2) {
        clock += 10_000;
        vi.advanceTimersByTime(10_000);
      }
    }
    expect(log.at(-1)).toMatch(/Could not reach the server; reconnecting in 2\.0 s \(attempt 3 of 10\)\.$/);
    clock += 1000;
    vi.advanceTimersByTime(1000);
    expect(log.at(-1)).toMatch(/reconnecting in 1\.0 s \(attempt 3 of 10\)\.$/);
    expect(sockets).toHaveLength(3);
    uplink.retryNow();
    expect(sockets).toHaveLength(4);
    expect(log.at(-1)).toMatch(/reconnecting now \(attempt 3 of 10\)\.$/);
    // The countdown stopped with the wait: no stale "reconnecting in" after the attempt began.
    vi.advanceTimersByTime(3000);
    expect(log.at(-1)).toMatch(/reconnecting now/);
    expect(sockets).toHaveLength(4);
  });

  it('reconnects as soon as the probe says the server answers again, not after the whole backoff', async () => {
    let up = false;
    const { uplink, sockets } = setup({ probe: () => Promise.resolve(up) });
    uplink.start();
    for (let i = 0; i < 5; i++) {
      sockets[i]!.drop(1006);
      if (i < 4) vi.advanceTimersByTime(10_000);
    }
    // Attempt 5 waits 8 s; the server is back after 2 s.
    await vi.advanceTimersByTimeAsync(2000);
    expect(sockets).toHaveLength(5);
    up = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(6);
  });

  it('gives up after the last attempt with a sentence that says what to check', () => {
    const { uplink, sockets, log } = setup({ maxAttempts: 3 });
    uplink.start();
    for (let i = 0; i < 4; i++) {
      sockets[i]!.drop(1006);
      vi.advanceTimersByTime(10_000);
    }
    expect(log.at(-1)).toMatch(/^failed connection-lost: Could not reach the server, and it did not come back after 3 attempts\. Check that the server is running/);
    expect(sockets).toHaveLength(4);
  });

  it('treats a server error message and policy closes as final', () => {
    const one = setup();
    one.uplink.start();
    one.sockets[0]!.open();
    one.sockets[0]!.receive(accepted);
    one.sockets[0]!.receive({ type: 'error', code: 'bad-fragment', message: 'a media segment was rejected' });
    one.sockets[0]!.drop(1003, 'a media segment was rejected');
    expect(one.log.at(-1)).toBe('failed server-error: The server stopped the upload: a media segment was rejected. Press Go live to start again.');
    const two = setup();
    two.uplink.start();
    two.sockets[0]!.drop(1008, 'no hello within 10 s');
    expect(two.log.at(-1)).toBe('failed server-error: The server closed the connection (1008): no hello within 10 s. Check the stream name and token, then press Go live.');
    const three = setup();
    three.uplink.start();
    three.sockets[0]!.drop(1009, 'message too big');
    expect(three.log.at(-1)).toMatch(/\(1009\): message too big\. A frame was larger than the server accepts; pick a lower bitrate or a smaller preset, then press Go live\.$/);
  });

  it('passes keyframe requests and stats on', () => {
    const { uplink, sockets, log } = setup();
    uplink.start();
    sockets[0]!.open();
    sockets[0]!.receive(accepted);
    sockets[0]!.receive({ type: 'keyframe-request', reason: 'an output (re)started' });
    sockets[0]!.receive({ type: 'stats', ingestKbps: 1, fragments: 2, rtspPlayers: 3, outputs: [] });
    expect(log.slice(-2)).toEqual(['keyframe: an output (re)started', 'stats']);
    uplink.sendStats({ sentKbps: 1, fps: 2, encodeMs: 3, droppedFrames: 4, bufferedBytes: 5 });
    expect(sockets[0]!.texts().at(-1)).toEqual({ type: 'stats', sentKbps: 1, fps: 2, encodeMs: 3, droppedFrames: 4, bufferedBytes: 5 });
  });

  it('drops video to the next keyframe when the backlog passes its bound, and keeps audio until twice the bound', () => {
    const { uplink, sockets, log } = setup();
    uplink.start();
    const s = sockets[0]!;
    s.open();
    s.receive(accepted);
    uplink.sendVideo(v(0));
    const sent = () => s.binaries().length;
    expect(sent()).toBe(2);
    s.bufferedAmount = 200_000; // past 125 kB
    uplink.sendVideo({ ...v(1), timestamp: 3000 });
    expect(sent()).toBe(2);
    expect(log.slice(-2)).toEqual(['congestion', 'dropped video']);
    uplink.sendAudio({ ...a(0), timestamp: 0 });
    uplink.sendAudio({ ...a(1), timestamp: 960 });
    expect(sent()).toBe(3); // audio still flows
    s.bufferedAmount = 10_000; // drained, but the next frame is a delta: still dropped
    uplink.sendVideo({ ...v(2), keyframe: false, timestamp: 6000 });
    expect(sent()).toBe(3);
    uplink.sendVideo({ ...v(0), timestamp: 9000 });
    expect(sent()).toBe(4);
    s.bufferedAmount = 300_000; // past twice the bound: audio goes too
    uplink.sendAudio({ ...a(2), timestamp: 1920 });
    expect(log.at(-1)).toBe('dropped audio');
  });

  it('asks for a keyframe again, at most once a second, while it drops deltas waiting for one', () => {
    let now = 0;
    const { uplink, sockets, log } = setup({ now: () => now });
    uplink.start();
    const s = sockets[0]!;
    s.open();
    s.receive(accepted); // asks for the first keyframe at t=0
    const asks = () => log.filter((l) => l.startsWith('keyframe:')).length;
    expect(asks()).toBe(1);
    for (let i = 1; i <= 60; i++) {
      now = i * 33;
      uplink.sendVideo({ ...v(1), keyframe: false, timestamp: i * 3000 });
    }
    expect(log).toContain('keyframe: the uplink is waiting for a keyframe');
    expect(asks()).toBe(2); // 2 s of deltas: one more request, not one per frame
    expect(s.binaries()).toHaveLength(1);
  });

  it('closes with 1000 on close(), sending the audio it still holds', async () => {
    const { uplink, sockets } = setup();
    uplink.start();
    const s = sockets[0]!;
    s.open();
    s.receive(accepted);
    uplink.sendVideo(v(0));
    uplink.sendAudio({ ...a(0), timestamp: 0 });
    const closing = uplink.close();
    expect(s.binaries()).toHaveLength(3);
    expect(s.closedWith).toEqual({ code: 1000, reason: 'publisher stopped' });
    vi.advanceTimersByTime(1000);
    await closing;
    expect(uplink.phase).toBe('closed');
  });
});
