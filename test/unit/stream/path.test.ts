// Paths own what lives and dies with a stream name: the grace timer, and parts such as the ffmpeg destinations and the
// recorder (PathParts). A part is made once per path, kept through the grace period, closed when the path ends, and
// the registry's close() waits for every part to finish closing.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../server/log.ts';
import { parseSdp, type SessionDescription } from '../../../server/protocols/rtsp/sdp.ts';
import { PathParts, type PathPart, type StreamPath } from '../../../server/stream/path.ts';
import { StreamRegistry } from '../../../server/stream/registry.ts';
import type { PublisherInfo } from '../../../server/stream/stream.ts';

function sdp(rtpmap: string): SessionDescription {
  const r = parseSdp(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=t', 't=0 0', 'm=video 0 RTP/AVP 96', `a=rtpmap:96 ${rtpmap}`, ''].join('\r\n'));
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}
const H264 = sdp('H264/90000');
const H265 = sdp('H265/90000');
const pub: PublisherInfo = { protocol: 'rtsp', transport: 'tcp', remote: '127.0.0.1:1', session: 's', since: 0 };

/** A part whose close() takes until the test lets it finish, like an ffmpeg that needs a moment to exit. */
class SlowPart implements PathPart {
  closing = 0;
  private finish: () => void = () => {};
  private readonly done = new Promise<void>((r) => (this.finish = r));
  constructor(readonly path: string) {}
  close(): Promise<void> {
    this.closing++;
    return this.done;
  }
  finished(): void {
    this.finish();
  }
}

function setup() {
  const timers: Array<{ fn: () => void; cancelled: boolean }> = [];
  const registry = new StreamRegistry({
    logger: silentLogger,
    graceMs: 5000,
    setTimer: (fn) => {
      const t = { fn, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    },
  });
  const made: SlowPart[] = [];
  const returned: string[] = [];
  const parts = new PathParts<SlowPart>(registry, 'test', {
    make: (path: StreamPath) => (path.name.startsWith('none') ? undefined : (made.push(new SlowPart(path.name)), made.at(-1)!)),
    returned: (part) => returned.push(part.path),
  });
  const expireGrace = () => {
    for (const t of timers.splice(0)) if (!t.cancelled) t.fn();
  };
  return { registry, parts, made, returned, expireGrace };
}

describe('paths and their parts', () => {
  it('makes a part once per path, keeps it through the grace period, and closes it when the path ends', () => {
    const { registry, parts, made, returned, expireGrace } = setup();
    const first = registry.publish('cam', H264, pub);
    if (!first.ok) throw new Error('refused');
    first.stream.addReader('r', { sendUnit() {}, sendRtcp() {}, backlog: () => 0, end() {} }, new Set([0]));
    expect(made).toHaveLength(1);
    expect(parts.of('cam')).toBe(made[0]);
    registry.unpublish(first.stream);
    expect(registry.path('cam')?.stream.state).toBe('waiting');
    expect(parts.of('cam')).toBe(made[0]); // the grace period keeps it
    const again = registry.publish('cam', H264, pub);
    expect(again.ok && again.stream).toBe(first.stream);
    expect(made).toHaveLength(1);
    expect(returned).toEqual(['cam']);
    registry.unpublish(first.stream);
    expireGrace();
    expect(made[0]!.closing).toBe(1);
    expect(parts.of('cam')).toBeUndefined();
    expect(registry.path('cam')).toBeUndefined();
  });

  it('a publisher with other codecs ends the old path (its part closed) and starts a new one with a new part', () => {
    const { registry, made } = setup();
    const first = registry.publish('cam', H264, pub);
    if (!first.ok) throw new Error('refused');
    first.stream.addReader('r', { sendUnit() {}, sendRtcp() {}, backlog: () => 0, end() {} }, new Set([0]));
    registry.unpublish(first.stream);
    registry.publish('cam', H265, pub);
    expect(made).toHaveLength(2);
    expect(made[0]!.closing).toBe(1);
    expect(made[1]!.closing).toBe(0);
  });

  it('gives no part where make says none, and registry.close() waits until every part has closed', async () => {
    const { registry, parts, made } = setup();
    registry.publish('none-here', H264, pub);
    registry.publish('cam', H264, pub);
    expect(parts.of('none-here')).toBeUndefined();
    expect(made.map((p) => p.path)).toEqual(['cam']);
    let closed = false;
    const closing = registry.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(made[0]!.closing).toBe(1);
    expect(closed).toBe(false);
    made[0]!.finished();
    await closing;
    expect(closed).toBe(true);
  });

  it('PathParts.close() closes what its paths still hold and makes no new parts', async () => {
    const { registry, parts, made } = setup();
    registry.publish('cam', H264, pub);
    const closing = parts.close();
    made[0]!.finished();
    await closing;
    expect(made[0]!.closing).toBe(1);
    registry.publish('late', H264, pub);
    expect(made).toHaveLength(1);
  });
});
