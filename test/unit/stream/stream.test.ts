// The fan-out hub with fake readers: GOP cache, skip-to-keyframe, drop, and RTP re-stamping across publishers.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../server/log.ts';
import { parseRtpHeader } from '../../../server/protocols/rtp/packet.ts';
import { parseSdp } from '../../../server/protocols/rtsp/sdp.ts';
import type { AccessUnit } from '../../../server/stream/access-unit.ts';
import type { ReaderEndReason, ReaderSink } from '../../../server/stream/reader.ts';
import { Stream } from '../../../server/stream/stream.ts';

const SDP = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=t', 't=0 0', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:streamid=0', 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 opus/48000/2', 'a=control:streamid=1', ''].join('\r\n');

function rtp(seq: number, ts: number, nal: number[], marker = true, pt = 96): Buffer {
  const b = Buffer.alloc(12 + nal.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(0x11223344, 8);
  Buffer.from(nal).copy(b, 12);
  return b;
}
const IDR = [0x65, 1, 2, 3];
const P = [0x41, 1, 2, 3];

class FakeSink implements ReaderSink {
  units: AccessUnit[] = [];
  rtcp = 0;
  queued = 0;
  ended: ReaderEndReason | undefined;
  sendUnit(u: AccessUnit) {
    this.units.push(u);
  }
  sendRtcp() {
    this.rtcp++;
  }
  backlog() {
    return this.queued;
  }
  end(r: ReaderEndReason) {
    this.ended = r;
  }
}

function setup(policy = { skipBacklogBytes: 100, maxBehindMs: 1000 }) {
  let now = 1_000_000;
  const sdp = parseSdp(SDP);
  if (!sdp.ok) throw sdp.error;
  const s = new Stream({ name: 't', sdp: sdp.value, logger: silentLogger, now: () => now, random: () => 0.5, policy });
  s.attachPublisher({ protocol: 'rtsp', transport: 'tcp', remote: 'x', session: 's', since: now });
  return { s, tick: (ms: number) => (now += ms) };
}

describe('Stream', () => {
  it('together(): every reader is held while a batch is fed, and released after it, once each, even if feeding throws', () => {
    const { s } = setup();
    const events: string[] = [];
    class HoldingSink extends FakeSink {
      constructor(readonly name: string) {
        super();
      }
      hold() {
        events.push(`hold ${this.name}`);
      }
      release() {
        events.push(`release ${this.name}`);
      }
      override sendUnit(u: AccessUnit) {
        super.sendUnit(u);
        events.push(`unit ${this.name} ${u.track}`);
      }
    }
    s.addReader('a', new HoldingSink('a'), new Set([0, 1]));
    s.onRtp(0, rtp(1, 0, IDR)); // the reader starts at a keyframe
    events.length = 0;
    s.together(() => {
      s.onRtp(1, rtp(1, 960, [1], true, 97));
      s.onRtp(1, rtp(2, 1920, [2], true, 97));
    });
    expect(events).toEqual(['hold a', 'unit a 1', 'unit a 1', 'release a']);
    events.length = 0;
    expect(() =>
      s.together(() => {
        throw new Error('bad batch');
      }),
    ).toThrow('bad batch');
    expect(events).toEqual(['hold a', 'release a']);
  });

  it('groups packets into access units by marker bit and finds H.264 keyframes', () => {
    const { s } = setup();
    const sink = new FakeSink();
    s.addReader('r', sink, new Set([0]));
    s.onRtp(0, rtp(1, 0, [0x7c, 0x85, 1], false)); // FU-A start of an IDR
    s.onRtp(0, rtp(2, 0, [0x7c, 0x45, 2], true)); // FU-A end
    s.onRtp(0, rtp(3, 3000, P));
    expect(sink.units.map((u) => [u.packets.length, u.keyframe])).toEqual([[2, true], [1, false]]);
  });

  it('gives a new reader the cached group from the last keyframe, then live units', () => {
    const { s } = setup();
    s.onRtp(0, rtp(1, 0, P)); // before any keyframe: not cached
    s.onRtp(0, rtp(2, 3000, IDR));
    s.onRtp(1, rtp(1, 100, [1, 2], true, 97));
    s.onRtp(0, rtp(3, 6000, P));
    const sink = new FakeSink();
    s.addReader('r', sink, new Set([0, 1]));
    expect(sink.units.map((u) => [u.track, u.keyframe])).toEqual([[0, true], [1, true], [0, false]]);
    expect(s.rtpInfo(0)).toEqual({ seq: 2, rtptime: 3000 });
    s.onRtp(0, rtp(4, 9000, P));
    expect(sink.units).toHaveLength(4);
  });

  it('waits for the first keyframe before sending video to a reader that joined early', () => {
    const { s } = setup();
    const sink = new FakeSink();
    s.addReader('r', sink, new Set([0]));
    s.onRtp(0, rtp(1, 0, P));
    expect(sink.units).toHaveLength(0);
    s.onRtp(0, rtp(2, 3000, IDR));
    expect(sink.units.map((u) => u.keyframe)).toEqual([true]);
  });

  it('keeps a reader that waits for the first keyframe, however long the publisher takes (it is not behind)', () => {
    const { s, tick } = setup(); // maxBehindMs 1000
    const sink = new FakeSink();
    s.addReader('r', sink, new Set([0, 1]));
    s.onRtp(0, rtp(1, 0, P));
    tick(5000);
    s.onRtp(0, rtp(2, 3000, P));
    expect(sink.ended).toBeUndefined();
    s.onRtp(0, rtp(3, 6000, IDR));
    expect(sink.units.map((u) => u.keyframe)).toEqual([true]);
    expect(s.snapshot().readersDropped).toBe(0);
  });

  it('a player of only the audio of an A/V stream starts and resumes after PAUSE without waiting for a video keyframe', () => {
    const { s } = setup();
    const audio = new FakeSink();
    const reader = s.addReader('a', audio, new Set([1]));
    s.onRtp(1, rtp(1, 0, [1, 2], true, 97));
    expect(audio.units).toHaveLength(1);
    s.pauseReader(reader);
    s.onRtp(1, rtp(2, 960, [1, 2], true, 97));
    s.resumeReader(reader);
    s.onRtp(1, rtp(3, 1920, [1, 2], true, 97));
    expect(audio.units.map((u) => u.timestamp)).toEqual([0, 1920]);
  });

  it('skips a lagging reader to the next keyframe and drops one that stays behind, leaving others alone', () => {
    const { s, tick } = setup();
    s.onRtp(0, rtp(1, 0, IDR));
    const slow = new FakeSink();
    const fast = new FakeSink();
    s.addReader('slow', slow, new Set([0]));
    s.addReader('fast', fast, new Set([0]));
    slow.queued = 1000; // over skipBacklogBytes
    s.onRtp(0, rtp(2, 3000, P));
    s.onRtp(0, rtp(3, 6000, P));
    expect(slow.units).toHaveLength(1);
    expect(fast.units).toHaveLength(3);
    slow.queued = 0; // drained: resumes only at a keyframe
    s.onRtp(0, rtp(4, 9000, P));
    expect(slow.units).toHaveLength(1);
    s.onRtp(0, rtp(5, 12000, IDR));
    expect(slow.units.at(-1)?.keyframe).toBe(true);
    slow.queued = 1000;
    s.onRtp(0, rtp(6, 15000, P));
    tick(1500);
    s.onRtp(0, rtp(7, 18000, P));
    expect(slow.ended).toBe('too-slow');
    expect(fast.units).toHaveLength(7);
    expect(s.snapshot()).toMatchObject({ readers: 1, readersDropped: 1, readerSkips: 2 });
  });

  it('re-stamps a returning publisher so readers see continuous sequence numbers and forward time', () => {
    const { s, tick } = setup();
    const sink = new FakeSink();
    s.addReader('r', sink, new Set([0]));
    s.onRtp(0, rtp(100, 50_000, IDR));
    s.onRtp(0, rtp(101, 53_000, P));
    s.detachPublisher();
    tick(1000);
    s.attachPublisher({ protocol: 'rtsp', transport: 'tcp', remote: 'y', session: 's2', since: 0 });
    s.onRtp(0, rtp(7, 10, IDR)); // new publisher: its own numbering
    s.onRtp(0, rtp(8, 3010, P));
    const headers = sink.units.map((u) => parseRtpHeader(u.packets[0] as Uint8Array));
    expect(headers.map((h) => h?.sequenceNumber)).toEqual([100, 101, 102, 103]);
    const ts = headers.map((h) => h?.timestamp ?? 0);
    expect(ts[2]).toBe(53_000 + 90_000); // one second later at 90 kHz
    expect(ts[3]).toBe(ts[2]! + 3000);
    expect(new Set(headers.map((h) => h?.ssrc)).size).toBe(1);
  });

  it('ends every reader when the stream ends', () => {
    const { s } = setup();
    const a = new FakeSink();
    s.addReader('a', a, new Set([0]));
    s.end();
    expect(a.ended).toBe('stream-ended');
    expect(s.readerCount()).toBe(0);
  });

  it('does not deliver to a paused reader and resumes it at a keyframe', () => {
    const { s } = setup();
    s.onRtp(0, rtp(1, 0, IDR));
    const sink = new FakeSink();
    const r = s.addReader('r', sink, new Set([0]));
    s.pauseReader(r);
    s.onRtp(0, rtp(2, 3000, P));
    s.resumeReader(r);
    s.onRtp(0, rtp(3, 6000, P));
    expect(sink.units).toHaveLength(1);
    s.onRtp(0, rtp(4, 9000, IDR));
    expect(sink.units).toHaveLength(2);
  });
});
