// RTP over UDP: silent players time out (RFC 2326 §12.37), and the server ports only take packets from the address
// and port that SETUP named.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { ClientPool, h264Sdp, sleep, until } from './helpers.ts';

let t: TestRelay | undefined;
let pub: Publisher | undefined;
const clients = new ClientPool();
let sockets: dgram.Socket[] = [];

afterEach(async () => {
  await clients.closeAll();
  for (const s of sockets) s.close();
  if (pub) await stopProcess(pub);
  await t?.close();
  sockets = [];
  pub = undefined;
  t = undefined;
});

function connect(url: string): Promise<RtspTestClient> {
  return clients.connect(url);
}

async function udpSocket(port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('error', () => {});
  s.bind(port, '127.0.0.1');
  await once(s, 'listening');
  sockets.push(s);
  return s;
}

/** An even/odd pair of local UDP ports, as RTP/RTCP want (RFC 3550 §11). */
async function udpPair(): Promise<[dgram.Socket, dgram.Socket]> {
  for (;;) {
    const rtp = await udpSocket();
    const port = rtp.address().port;
    if (port % 2 === 0 && port < 65535) {
      try {
        return [rtp, await udpSocket(port + 1)];
      } catch {
        // taken: try another
      }
    }
  }
}

/** An RTP packet carrying one IDR NAL unit (RFC 6184 §5.6) whose bytes spell `tag`: a whole keyframe per packet. */
function idrPacket(seq: number, ts: number, tag: string): Buffer {
  const p = Buffer.alloc(12 + 1 + tag.length);
  p[0] = 0x80; // V=2
  p[1] = 0x80 | 96; // marker: last packet of the access unit; PT 96
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(ts >>> 0, 4);
  p.writeUInt32BE(0x11223344, 8);
  p[12] = 0x65; // NAL type 5, IDR
  p.write(tag, 13, 'latin1');
  return p;
}

describe('UDP session timeout (sessionTimeoutMs 1000)', () => {
  it('a silent UDP player is closed; RTCP or GET_PARAMETER keep-alives keep others; TCP players are not swept', async () => {
    t = await startTestRelay([], { rtsp: { sessionTimeoutMs: 1000 } });
    const name = 'quiet';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);

    const silent = await connect(t.url(name));
    const rtcp = await connect(t.url(name));
    const keepAlive = await connect(t.url(name));
    const tcp = await connect(t.url(name));
    const played = await silent.play({ transport: 'udp' });
    const playedAt = Date.now();
    // Players are told the timeout (RFC 2326 §12.37).
    expect(getHeader(played.headers, 'Session')).toMatch(/;timeout=1$/);
    await rtcp.play({ transport: 'udp' });
    await keepAlive.play({ transport: 'udp' });
    await tcp.play({ transport: 'tcp' });
    expect(t.relay.rtsp.playersOf(name)).toBe(4);

    const timer = setInterval(() => {
      rtcp.sendReceiverReports();
      void keepAlive.request('GET_PARAMETER', t?.url(name) ?? '');
    }, 250);
    try {
      await until(() => t?.relay.rtsp.playersOf(name) === 3, 'the silent player to time out', 5000);
      expect(Date.now() - playedAt).toBeGreaterThanOrEqual(900);
      expect(t.logs.some((l) => l.event === 'teardown' && l.why === 'timeout')).toBe(true);
      // Nothing more reaches it (allow what was in flight).
      await sleep(100);
      const frozen = silent.tracks[0]?.packets ?? 0;
      const others = [rtcp, keepAlive, tcp].map((c) => c.tracks[0]?.packets ?? 0);
      await sleep(1500); // a second and a half more: past the timeout again for anyone not kept alive
      expect(silent.tracks[0]?.packets).toBe(frozen);
      [rtcp, keepAlive, tcp].forEach((c, i) => expect(c.tracks[0]?.packets ?? 0).toBeGreaterThan((others[i] ?? 0) + 10));
      expect(t.relay.rtsp.playersOf(name)).toBe(3);
    } finally {
      clearInterval(timer);
    }
    // Its session is gone (454 for it, from any connection of that client), and its connection, silent and holding no
    // session, is closed a timeout later.
    const again = await connect(t.url(name));
    expect((await again.request('PLAY', t.url(name), [['Session', silent.session!]])).status).toBe(454);
    const closed = await Promise.race([silent.closed.then(() => true), sleep(3000).then(() => false)]);
    expect(closed).toBe(true);
  });
});

describe('packets from an unexpected source', () => {
  it('are dropped and counted; the stream carries only the publisher\u2019s', async () => {
    t = await startTestRelay();
    const name = 'handmade';
    const url = t.url(name);
    const [rtp, rtcp] = await udpPair();
    const foreign = await udpSocket();

    // A publisher by hand: ANNOUNCE, SETUP over UDP from our pair, RECORD.
    const p = await connect(url);
    expect((await p.request('ANNOUNCE', url, [['Content-Type', 'application/sdp']], Buffer.from(h264Sdp()))).status).toBe(200);
    const s = await p.request('SETUP', `${url}/streamid=0`, [['Transport', `RTP/AVP;unicast;client_port=${rtp.address().port}-${rtcp.address().port};mode=record`]]);
    expect(s.status).toBe(200);
    const serverPorts = /server_port=(\d+)-(\d+)/.exec(getHeader(s.headers, 'Transport') ?? '');
    const [serverRtp, serverRtcp] = [Number(serverPorts?.[1]), Number(serverPorts?.[2])];
    expect(serverRtp).toBeGreaterThan(0);
    p.session = getHeader(s.headers, 'Session')?.split(';')[0];
    expect((await p.request('RECORD', url)).status).toBe(200);

    // The publisher's numbering; the foreign sender counts on its own, as another source would.
    const seq = { genuine: 1000, foreign: 1000 };
    let ts = 0;
    const sendFrom = (sock: dgram.Socket, tag: string, port = serverRtp) => {
      const which = sock === rtp ? 'genuine' : 'foreign';
      sock.send(idrPacket(seq[which]++, (ts += 3000), tag), port, '127.0.0.1');
    };
    sendFrom(rtp, 'GENUINE-0');
    await until(() => (t?.relay.registry.get(name)?.snapshot().gopUnits ?? 0) > 0, 'the first keyframe to reach the stream');

    const c = await connect(url);
    const seen: string[] = [];
    c.onPacket = (_track, packet) => seen.push(Buffer.from(packet.subarray(13)).toString('latin1'));
    await c.play({ transport: 'tcp' });
    await until(() => seen.includes('GENUINE-0'), 'the player to get the cached keyframe');

    const bytesBefore = t.relay.registry.get(name)?.snapshot().bytesIn ?? 0;
    const foreignBefore = t.relay.rtsp.foreignPackets;
    for (let i = 0; i < 5; i++) sendFrom(foreign, `FOREIGN-${i}`);
    for (let i = 0; i < 3; i++) foreign.send(Buffer.from([0x80, 200, 0, 6, 1, 2, 3, 4]), serverRtcp, '127.0.0.1');
    // From the right address but the RTCP port: wrong port for RTP.
    rtcp.send(idrPacket(9, 9, 'WRONG-PORT'), serverRtp, '127.0.0.1');
    await until(() => (t?.relay.rtsp.foreignPackets ?? 0) - foreignBefore === 9, 'the foreign packets to be counted', 5000);
    expect(t.relay.registry.get(name)?.snapshot().bytesIn).toBe(bytesBefore);

    for (let i = 1; i <= 3; i++) sendFrom(rtp, `GENUINE-${i}`);
    await until(() => seen.includes('GENUINE-3'), 'the publisher\u2019s packets after the foreign ones');
    expect(seen.filter((x) => !x.startsWith('GENUINE'))).toEqual([]);
    expect(seen.slice(-3)).toEqual(['GENUINE-1', 'GENUINE-2', 'GENUINE-3']);
    // The foreign packets took no sequence numbers: the player's numbering runs on.
    expect(c.tracks[0]?.seqJumps).toBe(0);
    expect(t.relay.registry.get(name)?.state).toBe('live');
  });

  it('SETUP naming another destination than the requester is refused (461), nothing is sent there', async () => {
    t = await startTestRelay();
    const name = 'elsewhere';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    const c = await connect(t.url(name));
    // 127.0.0.2 is still this machine (loopback range), but not the address the request came from.
    const s = await c.request('SETUP', `${t.url(name)}/trackID=0`, [['Transport', 'RTP/AVP;unicast;destination=127.0.0.2;client_port=40000-40001']]);
    expect(s.status).toBe(461);
  });
});

describe('a server on a dual-stack IPv6 address (--host ::)', () => {
  it('plays to an IPv4 client over UDP, takes its RTCP, and lets it name itself as destination', async () => {
    // ::ffff:127.0.0.1: IPv6 sockets, as with --host ::, but reachable from loopback only.
    t = await startTestRelay(['--host', '::ffff:127.0.0.1']);
    const name = 'dualstack';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    const c = await connect(t.url(name));
    await c.play({ transport: 'udp' });
    await until(() => (c.tracks[0]?.packets ?? 0) > 30, 'RTP over UDP to reach an IPv4 client of an IPv6 socket', 5000);
    const foreign = t.relay.rtsp.foreignPackets;
    c.sendReceiverReports();
    await sleep(200);
    expect(t.relay.rtsp.foreignPackets).toBe(foreign);
    // destination= the client's own address, as IPv4 clients write it.
    const d = await connect(t.url(name));
    const s = await d.request('SETUP', `${t.url(name)}/trackID=0`, [['Transport', 'RTP/AVP;unicast;destination=127.0.0.1;client_port=40002-40003']]);
    expect(s.status).toBe(200);
  });
});
