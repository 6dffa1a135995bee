// The registry: one owner per stream name. Who may publish, the one grace period (on an injected timer), what a
// returning publisher keeps (same codecs: the same stream, readers and outputs attached) and what it ends.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../server/log.ts';
import { parseSdp, type SessionDescription } from '../../../server/protocols/rtsp/sdp.ts';
import type { ReaderEndReason, ReaderSink } from '../../../server/stream/reader.ts';
import { StreamRegistry, type RegistryEvent } from '../../../server/stream/registry.ts';
import type { PublisherInfo } from '../../../server/stream/stream.ts';

function sdp(...media: string[]): SessionDescription {
  const r = parseSdp(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=t', 't=0 0', ...media, ''].join('\r\n'));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}
const H264_OPUS = sdp('m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 opus/48000/2');
const H264_OPUS_AGAIN = sdp('m=video 0 RTP/AVP 100', 'a=rtpmap:100 H264/90000', 'm=audio 0 RTP/AVP 101', 'a=rtpmap:101 OPUS/48000/2');
const H264_AAC = sdp('m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/48000/2');
const H265 = sdp('m=video 0 RTP/AVP 96', 'a=rtpmap:96 H265/90000');

class Sink implements ReaderSink {
  ended: ReaderEndReason | undefined;
  sendUnit() {}
  sendRtcp() {}
  backlog() {
    return 0;
  }
  end(r: ReaderEndReason) {
    this.ended = r;
  }
}

/** A registry on a fake clock: timers fire only when the test says so. */
function setup(graceMs = 5000) {
  const timers: Array<{ fn: () => void; at: number; cancelled: boolean }> = [];
  let now = 0;
  const events: string[] = [];
  const registry = new StreamRegistry({
    logger: silentLogger,
    graceMs,
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { fn, at: now + ms, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    },
  });
  registry.on((e: RegistryEvent) => events.push(`${e.type} ${e.stream.name}`));
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.splice(0)) {
      if (t.cancelled) continue;
      if (t.at <= now) t.fn();
      else timers.push(t);
    }
  };
  const pending = () => timers.filter((t) => !t.cancelled).length;
  return { registry, events, advance, pending };
}

const pub = (protocol: PublisherInfo['protocol'] = 'rtsp'): PublisherInfo => ({ protocol, transport: 'tcp', remote: '127.0.0.1:1', session: 's', since: 0 });

function live(r: StreamRegistry, name: string, description: SessionDescription, protocol: PublisherInfo['protocol'] = 'rtsp') {
  const p = r.publish(name, description, pub(protocol));
  if (!p.ok) throw new Error(p.refusal.message);
  return p.stream;
}

describe('StreamRegistry', () => {
  it('refuses a second publisher of a live name', () => {
    const { registry } = setup();
    live(registry, 'cam', H264_OPUS);
    expect(registry.publish('cam', H264_OPUS, pub())).toMatchObject({ ok: false, refusal: { code: 'in-use' } });
  });

  it('a publisher that leaves a stream nobody reads ends it at once; with a reader, after the grace period', () => {
    const { registry, events, advance, pending } = setup();
    const lonely = live(registry, 'a', H264_OPUS);
    registry.unpublish(lonely);
    expect(lonely.state).toBe('ended');
    expect(pending()).toBe(0);

    const watched = live(registry, 'b', H264_OPUS);
    const sink = new Sink();
    watched.addReader('p', sink, new Set([0, 1]));
    registry.unpublish(watched);
    expect(watched.state).toBe('waiting');
    advance(4999);
    expect(watched.state).toBe('waiting');
    expect(sink.ended).toBeUndefined();
    advance(1);
    expect(watched.state).toBe('ended');
    expect(sink.ended).toBe('stream-ended');
    expect(registry.get('b')).toBeUndefined();
    expect(events).toEqual(['stream-live a', 'stream-ended a', 'stream-live b', 'stream-waiting b', 'stream-ended b']);
  });

  it('an output (not a player) also keeps the stream for the grace period, and is not counted as a player', () => {
    const { registry } = setup();
    const s = live(registry, 'cam', H264_OPUS);
    s.addReader('out', new Sink(), new Set([0, 1]), 'output');
    expect(registry.totalReaders()).toBe(0);
    registry.unpublish(s);
    expect(s.state).toBe('waiting');
  });

  it('a publisher returning with the same codecs (payload types and case may differ) continues the same stream: readers stay', () => {
    const { registry, advance, pending } = setup();
    const s = live(registry, 'cam', H264_OPUS);
    const sink = new Sink();
    s.addReader('p', sink, new Set([0, 1]));
    registry.unpublish(s);
    advance(3000);
    const again = live(registry, 'cam', H264_OPUS_AGAIN, 'websocket');
    expect(again).toBe(s);
    expect(s.state).toBe('live');
    expect(s.source).toBe('websocket');
    expect(pending()).toBe(0); // the grace timer was cancelled
    advance(10_000);
    expect(sink.ended).toBeUndefined();
    expect(s.readerCount()).toBe(1);
  });

  it('a publisher returning with other codecs ends the old stream (readers told why) and starts a new one', () => {
    const { registry, events } = setup();
    const s = live(registry, 'cam', H264_OPUS);
    const sink = new Sink();
    s.addReader('p', sink, new Set([0, 1]));
    registry.unpublish(s);
    const other = live(registry, 'cam', H264_AAC);
    expect(other).not.toBe(s);
    expect(s.state).toBe('ended');
    expect(sink.ended).toBe('codecs-changed');
    expect(registry.get('cam')).toBe(other);
    expect(other.readerCount()).toBe(0);
    const h265 = setup();
    const v = live(h265.registry, 'x', H264_OPUS);
    v.addReader('p', new Sink(), new Set([0]));
    h265.registry.unpublish(v);
    expect(live(h265.registry, 'x', H265)).not.toBe(v);
    expect(events.slice(-2)).toEqual(['stream-ended cam', 'stream-live cam']);
  });

  it('end() skips the grace period; with --publisher-grace 0 a stream ends as its publisher leaves', () => {
    const { registry } = setup();
    const s = live(registry, 'cam', H264_OPUS);
    const sink = new Sink();
    s.addReader('p', sink, new Set([0, 1]));
    registry.unpublish(s);
    registry.end(s);
    expect(sink.ended).toBe('stream-ended');
    const zero = setup(0);
    const z = live(zero.registry, 'z', H264_OPUS);
    z.addReader('p', new Sink(), new Set([0]));
    zero.registry.unpublish(z);
    expect(z.state).toBe('ended');
  });

  it('waiting(protocol) names the streams in their grace period by their last publisher', () => {
    const { registry } = setup();
    const a = live(registry, 'a', H264_OPUS, 'websocket');
    const b = live(registry, 'b', H264_OPUS, 'rtsp');
    live(registry, 'c', H264_OPUS, 'websocket');
    for (const s of [a, b]) {
      s.addReader('p', new Sink(), new Set([0]));
      registry.unpublish(s);
    }
    expect(registry.waiting('websocket')).toEqual(['a']);
    expect(registry.waiting('rtsp')).toEqual(['b']);
  });

  it('close() ends every stream and leaves no timer', () => {
    const { registry, pending } = setup();
    const s = live(registry, 'a', H264_OPUS);
    s.addReader('p', new Sink(), new Set([0]));
    registry.unpublish(s);
    expect(pending()).toBe(1);
    registry.close();
    expect(pending()).toBe(0);
    expect(registry.list()).toEqual([]);
  });
});
