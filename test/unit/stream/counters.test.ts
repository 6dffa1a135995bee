// The per-stream counts /metrics reads without walking readers: frames and bytes in, bytes out and readers by protocol,
// players; kept as readers join, leave, are dropped, are ended one by one (DELETE /api/readers/ID) or all at once.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../server/log.ts';
import { parseSdp } from '../../../server/protocols/rtsp/sdp.ts';
import type { ReaderDescription, ReaderEndReason, ReaderSink } from '../../../server/stream/reader.ts';
import { Stream } from '../../../server/stream/stream.ts';

const SDP = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=t', 't=0 0', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:streamid=0', ''].join('\r\n');

function rtp(seq: number, nal: number[]): Buffer {
  const b = Buffer.alloc(12 + nal.length);
  b[0] = 0x80;
  b[1] = 0x80 | 96; // marker: one packet, one unit
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(seq * 3000, 4);
  Buffer.from(nal).copy(b, 12);
  return b;
}

class Sink implements ReaderSink {
  ended: ReaderEndReason | undefined;
  queued = 0;
  constructor(private readonly d: ReaderDescription) {}
  describe(): ReaderDescription {
    return this.d;
  }
  sendUnit() {}
  sendRtcp() {}
  backlog() {
    return this.queued;
  }
  end(r: ReaderEndReason) {
    this.ended = r;
  }
}

/** An ffmpeg output's feed describes nothing: the hub labels it by its kind. */
class OutputSink implements ReaderSink {
  sendUnit() {}
  sendRtcp() {}
  backlog() {
    return 0;
  }
  end() {}
}

function setup() {
  let now = 1_000_000;
  const sdp = parseSdp(SDP);
  if (!sdp.ok) throw sdp.error;
  const s = new Stream({ name: 't', sdp: sdp.value, logger: silentLogger, now: () => now, policy: { skipBacklogBytes: 10, maxBehindMs: 100 } });
  s.attachPublisher({ protocol: 'rtsp', transport: 'tcp', remote: 'x', session: 's', since: now });
  return { s, tick: (ms: number) => (now += ms) };
}

describe('Stream counters', () => {
  it('counts frames and bytes in, and bytes out per protocol as units are sent', () => {
    const { s } = setup();
    s.addReader('r1', new Sink({ protocol: 'rtsp', transport: 'udp' }), new Set([0]));
    s.addReader('h1', new Sink({ protocol: 'http' }), new Set([0]));
    s.addReader('o1', new OutputSink(), new Set([0]), 'output');
    const idr = rtp(1, [0x65, 1, 2, 3]);
    const p = rtp(2, [0x41, 1, 2, 3, 4, 5]);
    s.onRtp(0, idr);
    s.onRtp(0, p);
    const snap = s.snapshot();
    expect(snap).toMatchObject({ framesIn: 2, bytesIn: 16 + 18, readers: 2 });
    expect(snap.bytesOut).toEqual({ rtsp: 34, http: 34, viewer: 0, output: 34, other: 0 });
    expect(snap.readersByProtocol).toEqual({ rtsp: 1, http: 1, viewer: 0, output: 1, other: 0 });
  });

  it('follows readers leaving, being dropped, ended one by one and all at once', () => {
    const { s, tick } = setup();
    const slow = new Sink({ protocol: 'rtsp' });
    const a = s.addReader('a', new Sink({ protocol: 'rtsp' }), new Set([0]));
    s.addReader('slow', slow, new Set([0]));
    const kicked = new Sink({ protocol: 'viewer' });
    s.addReader('v', kicked, new Set([0]));
    s.addReader('o', new OutputSink(), new Set([0]), 'output');
    expect(s.readerCount()).toBe(3);

    s.removeReader(a);
    s.removeReader(a); // twice: counted once
    expect(s.snapshot().readersByProtocol.rtsp).toBe(1);

    expect(s.endPlayer('o')).toBe(false); // outputs are not players
    expect(s.endPlayer('v')).toBe(true);
    expect(kicked.ended).toBe('removed');
    expect(s.endPlayer('v')).toBe(false);
    expect(s.snapshot().readersByProtocol.viewer).toBe(0);
    expect(s.players().map((r) => r.id)).toEqual(['slow']);

    // Behind for longer than maxBehindMs: dropped, and no longer counted.
    s.onRtp(0, rtp(1, [0x65, 1]));
    slow.queued = 1000;
    s.onRtp(0, rtp(2, [0x41, 1]));
    tick(200);
    s.onRtp(0, rtp(3, [0x41, 1]));
    expect(slow.ended).toBe('too-slow');
    expect(s.snapshot()).toMatchObject({ readers: 0, readersDropped: 1, readersByProtocol: { rtsp: 0, output: 1 } });

    s.end();
    expect(s.snapshot()).toMatchObject({ readers: 0, readersByProtocol: { output: 0 } });
  });
});
