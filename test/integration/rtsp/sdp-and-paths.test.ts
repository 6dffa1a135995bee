// Issue 12, item 3, against a real relay with a real ffmpeg publisher and real ffmpeg/ffprobe players:
// DESCRIBE is written from the parsed description (one a=control:* at session level), hostile SDP is refused with
// 400 and a reason, a=Control is a control, and request paths other than the canonical /NAME are refused, not
// normalised into some other name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { getHeader, type RtspResponse } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { h264Sdp, raw, RawConnection, requestText } from './helpers.ts';

const body = (r: RtspResponse | undefined) => Buffer.from(r?.body ?? []).toString();

/** The lines of an SDP up to its first m= line. */
function sessionLevel(sdp: string): string[] {
  const lines = sdp.split('\r\n');
  const m = lines.findIndex((l) => l.startsWith('m='));
  return m < 0 ? lines : lines.slice(0, m);
}

describe('SDP and request paths (real ffmpeg publisher and players)', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'real';
  let url: string;
  let origin: string;

  beforeAll(async () => {
    t = await startTestRelay();
    url = t.url(name);
    origin = `rtsp://127.0.0.1:${t.rtspPort}`;
    pub = publish({ url, audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it('DESCRIBE of an ffmpeg publisher: exactly one a=control:* at session level; ffprobe and an ffmpeg player read it', async () => {
    const r = await raw(t.rtspPort, requestText('DESCRIBE', url, [['CSeq', '1']]), { expect: 1 });
    expect(r.responses[0]?.status).toBe(200);
    const sdp = body(r.responses[0]);
    expect(sessionLevel(sdp).filter((l) => /^a=control:/i.test(l))).toEqual(['a=control:*']);
    expect(sdp.match(/^a=control:.*$/gim)).toEqual(['a=control:*', 'a=control:trackID=0', 'a=control:trackID=1']);
    expect(sdp).not.toMatch(/streamid/);

    const probe = await execa('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', url], { reject: false, timeout: 20_000 });
    expect(probe.stderr).toBe('');
    expect(probe.stdout.split('\n').map((l) => l.trim()).filter(Boolean)).toEqual(['h264', 'opus']);

    // As given, and with the trailing slash a user may copy from a Content-Base.
    for (const u of [url, `${url}/`]) {
      const play = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', u, '-frames:v', '20', '-f', 'null', '-'], { reject: false, timeout: 20_000 });
      expect(play.exitCode, `${u}: ${play.stderr}`).toBe(0);
      expect(play.stderr).toBe('');
    }
  });

  const sdpWith = (extra: string) => h264Sdp().replace('t=0 0\r\n', `t=0 0\r\n${extra}`);
  it.each([
    { what: 'a bare CR hiding a second a=control', sdp: () => sdpWith(`a=tool:x\ra=control:${origin}/other\r\n`), says: /bare CR/ },
    { what: 'a bare LF hiding a second a=control', sdp: () => sdpWith(`a=tool:x\na=control:${origin}/other\r\n`), says: /bare LF/ },
    { what: 'a NUL byte', sdp: () => sdpWith('a=tool:x\0y\r\n'), says: /NUL/ },
    { what: 'a control byte (0x01)', sdp: () => sdpWith('s=\x01\r\n'), says: /control byte 0x01/ },
    { what: 'a second a=control in another case', sdp: () => sdpWith(`a=control:*\r\na=Control:${origin}/other\r\n`), says: /more than one a=control/ },
  ])('ANNOUNCE with $what: 400 (Invalid SDP) with the reason, nothing announced, the connection still works', async ({ sdp, says }) => {
    const fresh = `${origin}/hostile`;
    const r = await raw(
      t.rtspPort,
      [
        requestText('ANNOUNCE', fresh, [['CSeq', '1'], ['Content-Type', 'application/sdp']], sdp()),
        requestText('SETUP', `${fresh}/streamid=0`, [['CSeq', '2'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]),
      ],
      { expect: 2 },
    );
    expect(r.closed).toBe(false);
    expect(r.responses.map((x) => x.status)).toEqual([400, 455]); // 455: ANNOUNCE before SETUP with mode=record
    expect(r.responses[0]?.reason).toBe('Bad Request (Invalid SDP)');
    expect(body(r.responses[0])).toMatch(says);
    expect(t.relay.registry.get('hostile')).toBeUndefined();
  });

  it('a=Control is a control: SETUP finds the track, and players get only our controls', async () => {
    const other = `${origin}/other`;
    const sdp = h264Sdp()
      .replace('t=0 0\r\n', `t=0 0\r\na=Control:${other}\r\n`)
      .replace('a=control:streamid=0', 'a=Control:streamid=0\r\na=SENDONLY');
    const p = await RtspTestClient.connect(`${origin}/upper`);
    try {
      expect((await p.request('ANNOUNCE', `${origin}/upper`, [['Content-Type', 'application/sdp']], Buffer.from(sdp))).status).toBe(200);
      const s = await p.request('SETUP', `${origin}/upper/streamid=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]);
      expect(s.status).toBe(200);
      const session = getHeader(s.headers, 'Session')?.split(';')[0] ?? '';
      expect((await p.request('RECORD', `${origin}/upper`, [['Session', session]])).status).toBe(200);

      const d = await raw(t.rtspPort, requestText('DESCRIBE', `${origin}/upper`, [['CSeq', '1']]), { expect: 1 });
      expect(d.responses[0]?.status).toBe(200);
      const described = body(d.responses[0]);
      expect(described).not.toMatch(/other|sendonly|streamid/i);
      expect(described.match(/^a=control:.*$/gim)).toEqual(['a=control:*', 'a=control:trackID=0']);
    } finally {
      await p.close();
    }
  });

  it.each([
    { what: '//x', uri: () => `${origin}//pathx`, says: /empty path segment/ },
    { what: '/x#y', uri: () => `${origin}/pathx#y`, says: /fragment/ },
    { what: '/a<TAB>b', uri: () => `${origin}/path\tx`, says: /TAB/ },
  ])('publishing to $what: ANNOUNCE, SETUP and RECORD get 400, and nothing is published under another name', async ({ uri, says }) => {
    const u = uri();
    const c = await RawConnection.connect(t.rtspPort);
    try {
      const a = await c.request(requestText('ANNOUNCE', u, [['CSeq', '1'], ['Content-Type', 'application/sdp']], h264Sdp()));
      const s = await c.request(requestText('SETUP', `${u}/streamid=0`, [['CSeq', '2'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]));
      const session = getHeader(s.headers, 'Session')?.split(';')[0];
      const r = await c.request(requestText('RECORD', u, [['CSeq', '3'], ...(session ? [['Session', session] as [string, string]] : [])]));
      expect(t.relay.registry.get('pathx')?.state).toBeUndefined(); // once, each of these published as "pathx"
      expect([a.status, s.status, r.status]).toEqual([400, 400, 400]);
      expect(body(a)).toMatch(says);
      expect((await c.request(requestText('OPTIONS', `${origin}/pathx`, [['CSeq', '4']]))).status).toBe(200); // still usable
    } finally {
      c.close();
    }
  });

  it('DESCRIBE and SETUP of the live stream under a non-canonical path: 400; the canonical forms still work', async () => {
    for (const u of [`${origin}//${name}`, `${origin}/${name}#x`, `${origin}/${name}\t`, `${origin}/${name}//`]) {
      const r = await raw(t.rtspPort, requestText('DESCRIBE', u, [['CSeq', '1']]), { expect: 1 });
      expect(r.responses[0]?.status, u).toBe(400);
    }
    const setup = await raw(t.rtspPort, requestText('SETUP', `${url}//trackID=0`, [['CSeq', '1'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]), { expect: 1 });
    expect(setup.responses[0]?.status).toBe(400);

    const ok = await raw(
      t.rtspPort,
      [
        requestText('OPTIONS', '*', [['CSeq', '1']]),
        requestText('OPTIONS', origin, [['CSeq', '2']]),
        requestText('DESCRIBE', `${url}/`, [['CSeq', '3']]),
        requestText('SETUP', `${url}/trackID=0`, [['CSeq', '4'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]),
      ],
      { expect: 4, gapMs: 20 },
    );
    expect(ok.responses.map((x) => x.status)).toEqual([200, 200, 200, 200]);
  });
});
