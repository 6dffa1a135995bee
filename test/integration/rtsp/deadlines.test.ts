// The connection deadlines of issue 12 item 2 one at a time: every message (a request, an interleaved frame, the
// first request after connecting) must finish within the request timeout from its first byte, and only requests keep
// a connection without a session from its idle timeout. Real publishers, whose writes often end inside a frame, are
// never cut.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { h264Sdp, RawConnection, requestText, sleep, until } from './helpers.ts';

let t: TestRelay | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await t?.close();
  t = undefined;
});

async function connect(port: number): Promise<{ socket: net.Socket; closedAt: () => number | undefined; openedAt: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  sockets.push(socket);
  await new Promise((r) => socket.once('connect', r));
  const openedAt = Date.now();
  let closedAt: number | undefined;
  socket.on('close', () => (closedAt = Date.now()));
  return { socket, openedAt, closedAt: () => closedAt };
}

const frame = (channel: number, length: number) => Buffer.concat([Buffer.from([0x24, channel, length >> 8, length & 0xff]), Buffer.alloc(length, 0x80)]);

describe('deadlines (request timeout 500 ms, session timeout 1 s)', () => {
  it('whole interleaved frames on no session do not make a client: closed at the first-request deadline', async () => {
    t = await startTestRelay([], { rtsp: { requestTimeoutMs: 500, sessionTimeoutMs: 1000 } });
    const c = await connect(t.rtspPort);
    const timer = setInterval(() => c.socket.write(frame(0, 8)), 100);
    try {
      await until(() => c.closedAt() !== undefined, 'the server to close the connection', 3000);
    } finally {
      clearInterval(timer);
    }
    expect(c.closedAt()! - c.openedAt).toBeLessThan(900);
  });

  it('after a request, frames alone do not reset the idle timeout; requests do', async () => {
    t = await startTestRelay([], { rtsp: { requestTimeoutMs: 500, sessionTimeoutMs: 1000 } });
    const url = `rtsp://127.0.0.1:${t.rtspPort}/x`;
    const framesOnly = await connect(t.rtspPort);
    const talking = await connect(t.rtspPort);
    framesOnly.socket.write(requestText('OPTIONS', url, [['CSeq', '1']]));
    let cseq = 1;
    const timer = setInterval(() => {
      framesOnly.socket.write(frame(0, 8));
      talking.socket.write(requestText('OPTIONS', url, [['CSeq', String(cseq++)]]));
    }, 200);
    try {
      await until(() => framesOnly.closedAt() !== undefined, 'the frames-only connection to idle out', 4000);
      expect(framesOnly.closedAt()! - framesOnly.openedAt).toBeGreaterThanOrEqual(900);
      await sleep(800); // past another idle timeout for the one that keeps asking
      expect(talking.closedAt()).toBeUndefined();
    } finally {
      clearInterval(timer);
    }
  });

  it('a request trickled a byte at a time is answered 408 at the deadline', async () => {
    t = await startTestRelay([], { rtsp: { requestTimeoutMs: 500 } });
    const c = await connect(t.rtspPort);
    let answer = '';
    c.socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const text = requestText('OPTIONS', `rtsp://127.0.0.1:${t.rtspPort}/x`, [['CSeq', '1']]);
    let i = 0;
    const timer = setInterval(() => c.socket.write(text.slice(i, ++i)), 100);
    try {
      await until(() => c.closedAt() !== undefined, 'the server to close the connection', 3000);
    } finally {
      clearInterval(timer);
    }
    expect(answer).toMatch(/^RTSP\/1\.0 408 /);
    expect(c.closedAt()! - c.openedAt).toBeLessThan(1500);
  });

  it('a TCP publisher whose writes end inside frames is not cut: the deadline runs per frame', async () => {
    t = await startTestRelay([], { rtsp: { requestTimeoutMs: 500, sessionTimeoutMs: 1000 } });
    const url = `rtsp://127.0.0.1:${t.rtspPort}/split`;
    const p = await RawConnection.connect(t.rtspPort);
    sockets.push(p.socket);
    expect((await p.request(requestText('ANNOUNCE', url, [['CSeq', '1'], ['Content-Type', 'application/sdp']], h264Sdp()))).status).toBe(200);
    const s = await p.request(requestText('SETUP', `${url}/streamid=0`, [['CSeq', '2'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]));
    expect(s.status).toBe(200);
    const session = getHeader(s.headers, 'Session')?.split(';')[0] ?? '';
    expect((await p.request(requestText('RECORD', url, [['CSeq', '3'], ['Session', session]]))).status).toBe(200);
    // 3 s of RTP (six deadlines), every write ending 3 bytes into the next frame, the rest of it 100 ms later.
    let seq = 0;
    const packet = () => {
      const b = Buffer.alloc(12 + 200, 0);
      b[0] = 0x80;
      b[1] = 0x80 | 96;
      b.writeUInt16BE(seq++ & 0xffff, 2);
      b.writeUInt32BE(seq * 3000, 4);
      b[12] = 0x65; // IDR NAL: each packet a keyframe unit
      return Buffer.concat([Buffer.from([0x24, 0, 0, b.length]), b]);
    };
    let next = packet();
    const started = Date.now();
    while (Date.now() - started < 3000) {
      const following = packet();
      p.socket.write(Buffer.concat([next, following.subarray(0, 3)]));
      next = following.subarray(3);
      await sleep(100);
    }
    expect(p.closed).toBe(false);
    expect(t.relay.registry.get('split')?.state).toBe('live');
    expect(t.logs.some((l) => l.code === 'request-timeout')).toBe(false);
  });
});
