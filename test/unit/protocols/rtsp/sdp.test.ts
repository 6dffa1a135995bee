import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Result } from '../../../../server/protocols/rtsp/errors.ts';
import {
  codecOf,
  h264SpropParameterSets,
  parseSdp,
  resolveControl,
  sameCodecs,
  writeSdp,
  type MediaDescription,
  type SessionDescription,
} from '../../../../server/protocols/rtsp/sdp.ts';
import { announcedSdp } from '../../../fixtures/rtsp/load.ts';

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}


// The SDP ffmpeg 5.1 ANNOUNCEs for libx264 + libopus (captured, see test/fixtures/rtsp/README.md).
const FFMPEG_SDP = announcedSdp('ffmpeg-5.1-publish-tcp-02-announce.bin');

const FFMPEG_PARSED: SessionDescription = {
  lines: ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=No Name', 'c=IN IP4 127.0.0.1', 't=0 0', 'a=tool:libavformat LIBAVFORMAT_VERSION'],
  media: [
    {
      type: 'video',
      port: 0,
      proto: 'RTP/AVP',
      formats: ['96'],
      rtpmap: { payloadType: 96, encoding: 'H264', clockRate: 90000 },
      fmtp: 'packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA; profile-level-id=64000D',
      control: 'streamid=0',
      lines: [],
    },
    {
      type: 'audio',
      port: 0,
      proto: 'RTP/AVP',
      formats: ['97'],
      rtpmap: { payloadType: 97, encoding: 'opus', clockRate: 48000, channels: 2 },
      control: 'streamid=1',
      lines: ['b=AS:64'],
    },
  ],
};

// A typical IP camera description (session-level control, H.265, static-PT G.711 without rtpmap).
const CAMERA_SDP = [
  'v=0',
  'o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64',
  's=Media Presentation',
  'e=NONE',
  'b=AS:5050',
  't=0 0',
  'a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/',
  'm=video 0 RTP/AVP 96',
  'c=IN IP4 0.0.0.0',
  'b=AS:5000',
  'a=recvonly',
  'a=x-dimensions:1920,1080',
  'a=rtpmap:96 H265/90000',
  'a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1',
  'm=audio 0 RTP/AVP 8',
  'c=IN IP4 0.0.0.0',
  'b=AS:50',
  'a=recvonly',
  'a=control:trackID=2',
  'a=Media_header:MEDIAINFO=494D4B48010100000400050000000000000000000000000000000000000000000000000000000000;',
  '',
].join('\r\n');

describe('parseSdp', () => {
  it('the SDP ffmpeg 5.1 announces', () => {
    expect(value(parseSdp(FFMPEG_SDP))).toEqual(FFMPEG_PARSED);
  });

  it('writes the ffmpeg SDP back byte for byte', () => {
    expect(writeSdp(value(parseSdp(FFMPEG_SDP)))).toBe(FFMPEG_SDP);
  });

  it('the same SDP with bare LF line ends', () => {
    expect(value(parseSdp(FFMPEG_SDP.replace(/\r\n/g, '\n')))).toEqual(FFMPEG_PARSED);
  });

  it('every announced SDP in the fixtures parses', () => {
    for (const name of ['ffmpeg-5.1-publish-udp-02-announce.bin', 'ffmpeg-5.1-publish-auth-03-announce.bin']) {
      expect(value(parseSdp(announcedSdp(name)))).toEqual(FFMPEG_PARSED);
    }
  });

  it('a camera SDP: session control, unknown attributes kept in order, static payload type', () => {
    const sdp = value(parseSdp(CAMERA_SDP));
    expect(sdp.control).toBe('rtsp://192.168.1.64:554/Streaming/Channels/101/');
    expect(sdp.lines).toEqual([
      'v=0',
      'o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64',
      's=Media Presentation',
      'e=NONE',
      'b=AS:5050',
      't=0 0',
    ]);
    expect(sdp.media[0]!.lines).toEqual(['c=IN IP4 0.0.0.0', 'b=AS:5000', 'a=recvonly', 'a=x-dimensions:1920,1080']);
    expect(sdp.media[1]!.rtpmap).toBeUndefined();
    expect(sdp.media[1]!.control).toBe('trackID=2');
    expect(codecOf(sdp.media[0]!)).toEqual({ kind: 'video', codec: 'H265', clockRate: 90000, payloadType: 96 });
    expect(codecOf(sdp.media[1]!)).toEqual({ kind: 'audio', codec: 'PCMA', clockRate: 8000, channels: 1, payloadType: 8 });
    expect(value(parseSdp(writeSdp(sdp)))).toEqual(sdp);
  });

  it('rtpmap and fmtp of other formats stay in lines', () => {
    const sdp = value(parseSdp('v=0\nm=video 5004 RTP/AVP 96 97\na=rtpmap:96 H264/90000\na=rtpmap:97 H265/90000\na=fmtp:97 x=1\na=fmtp:96 y=2\n'));
    const m = sdp.media[0]!;
    expect(m.formats).toEqual(['96', '97']);
    expect(m.port).toBe(5004);
    expect(m.rtpmap).toEqual({ payloadType: 96, encoding: 'H264', clockRate: 90000 });
    expect(m.fmtp).toBe('y=2');
    expect(m.lines).toEqual(['a=rtpmap:97 H265/90000', 'a=fmtp:97 x=1']);
  });

  it('tolerates blank lines, trailing spaces on m=, a "/<ports>" count, and non-RTP media', () => {
    const sdp = value(parseSdp('v=0\r\n\r\nm=video 5004/2 RTP/AVP 96  \r\nm=application 9 TCP/WSS webrtc-datachannel\r\n'));
    expect(sdp.media[0]!.port).toBe(5004);
    expect(sdp.media[0]!.formats).toEqual(['96']);
    expect(sdp.media[1]!.formats).toEqual(['webrtc-datachannel']);
    expect(codecOf(sdp.media[1]!)).toEqual({ kind: 'other', codec: '', clockRate: 0, payloadType: -1 });
  });

  const errors: Array<{ name: string; text: string; code: string }> = [
    { name: 'empty', text: '', code: 'sdp_no_version' },
    { name: 'missing v=', text: 's=x\r\nm=video 0 RTP/AVP 96\r\n', code: 'sdp_no_version' },
    { name: 'v= not first', text: 's=x\r\nv=0\r\n', code: 'sdp_no_version' },
    { name: 'm= without proto', text: 'v=0\r\nm=video 0\r\n', code: 'sdp_bad_media' },
    { name: 'm= without formats', text: 'v=0\r\nm=video 0 RTP/AVP\r\n', code: 'sdp_bad_media' },
    { name: 'non-numeric port', text: 'v=0\r\nm=video abc RTP/AVP 96\r\n', code: 'sdp_bad_media' },
    { name: 'port over 65535', text: 'v=0\r\nm=video 70000 RTP/AVP 96\r\n', code: 'sdp_bad_media' },
    { name: 'non-numeric payload type', text: 'v=0\r\nm=video 0 RTP/AVP H264\r\n', code: 'sdp_bad_media' },
    { name: 'payload type over 127', text: 'v=0\r\nm=video 0 RTP/AVP 128\r\n', code: 'sdp_bad_media' },
    { name: 'bad rtpmap', text: 'v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n', code: 'sdp_bad_rtpmap' },
    { name: 'non-numeric clock rate', text: 'v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/fast\r\n', code: 'sdp_bad_rtpmap' },
    { name: '17 media', text: `v=0\r\n${'m=audio 0 RTP/AVP 0\r\n'.repeat(17)}`, code: 'sdp_too_many_media' },
    { name: 'over 64 KiB', text: `v=0\r\n${`a=x:${'y'.repeat(1000)}\r\n`.repeat(66)}`, code: 'sdp_too_large' },
  ];
  for (const e of errors) {
    it(`error: ${e.name}`, () => {
      const r = parseSdp(e.text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe(e.code);
    });
  }

  it('16 media are fine', () => {
    expect(value(parseSdp(`v=0\r\n${'m=audio 0 RTP/AVP 0\r\n'.repeat(16)}`)).media).toHaveLength(16);
  });
});

describe('the SDP GStreamer 1.22 rtspclientsink announces', () => {
  const text = announcedSdp('gstreamer-1.22-publish-tcp-02-announce.bin');
  const sdp = value(parseSdp(text));

  it('audio first, with controls that do not follow the m= order', () => {
    expect(sdp.media.map((m) => [m.type, m.control])).toEqual([
      ['audio', 'stream=1'],
      ['video', 'stream=0'],
    ]);
    expect(sdp.control).toBeUndefined();
    expect(sdp.lines.slice(0, 1)).toEqual(['v=0']);
    expect(sdp.lines).toContain('a=tool:GStreamer');
  });

  it('codecs: OPUS (upper case) PT 96, H264 PT 99', () => {
    expect(codecOf(sdp.media[0]!)).toEqual({ kind: 'audio', codec: 'OPUS', clockRate: 48000, channels: 2, payloadType: 96 });
    expect(codecOf(sdp.media[1]!)).toEqual({ kind: 'video', codec: 'H264', clockRate: 90000, payloadType: 99 });
    expect(sdp.media[0]!.fmtp).toBe('sprop-stereo=0;sprop-maxcapturerate=48000');
  });

  it('media-level c=, b=, a=ssrc, a=ts-refclk, a=mediaclk and a=framerate are kept in order', () => {
    expect(sdp.media[1]!.lines).toEqual([
      'c=IN IP4 0.0.0.0',
      'b=AS:2097',
      'a=framerate:25',
      'a=ts-refclk:local',
      'a=mediaclk:sender',
      expect.stringMatching(/^a=ssrc:\d+ cname:/) as unknown as string,
    ]);
  });

  it('SPS and PPS decode from the fmtp without spaces', () => {
    const sets = h264SpropParameterSets(sdp.media[1]!.fmtp);
    expect(sets.map((s) => s[0]! & 0x1f)).toEqual([7, 8]);
  });

  it('is the same codec set as ffmpeg only if order and codecs agree', () => {
    expect(sameCodecs(sdp, value(parseSdp(FFMPEG_SDP)))).toBe(false); // audio first vs video first
    expect(sameCodecs(sdp, value(parseSdp(writeSdp(sdp))))).toBe(true);
  });

  it('parse(write(parse(text))) is stable', () => {
    expect(value(parseSdp(writeSdp(sdp)))).toEqual(sdp);
  });
});

describe('resolveControl', () => {
  const cases: Array<[base: string, control: string | undefined, expected: string]> = [
    ['rtsp://h/s', undefined, 'rtsp://h/s'],
    ['rtsp://h/s', '*', 'rtsp://h/s'],
    ['rtsp://h/s', '', 'rtsp://h/s'],
    ['rtsp://h/s', 'streamid=0', 'rtsp://h/s/streamid=0'],
    ['rtsp://h/s/', 'streamid=0', 'rtsp://h/s/streamid=0'],
    ['rtsp://h/s/', '/trackID=1', 'rtsp://h/s/trackID=1'],
    ['rtsp://h/s//', 'trackID=1', 'rtsp://h/s/trackID=1'],
    ['rtsp://h/s', 'rtsp://other:554/x/trackID=1', 'rtsp://other:554/x/trackID=1'],
    ['rtsp://h/s', 'RTSPS://other/x', 'RTSPS://other/x'],
  ];
  for (const [base, control, expected] of cases) {
    it(`${base} + ${String(control)}`, () => expect(resolveControl(base, control, 0)).toBe(expected));
  }
});

describe('codecs', () => {
  const media = (over: Partial<MediaDescription>): MediaDescription => ({ type: 'audio', port: 0, proto: 'RTP/AVP', formats: ['0'], lines: [], ...over });

  it('ffmpeg H.264 and Opus', () => {
    const sdp = value(parseSdp(FFMPEG_SDP));
    expect(codecOf(sdp.media[0]!)).toEqual({ kind: 'video', codec: 'H264', clockRate: 90000, payloadType: 96 });
    expect(codecOf(sdp.media[1]!)).toEqual({ kind: 'audio', codec: 'OPUS', clockRate: 48000, channels: 2, payloadType: 97 });
  });

  const statics: Array<[pt: string, type: string, codec: string, clockRate: number, channels?: number]> = [
    ['0', 'audio', 'PCMU', 8000, 1],
    ['8', 'audio', 'PCMA', 8000, 1],
    ['14', 'audio', 'MPA', 90000, 1],
    ['26', 'video', 'JPEG', 90000],
    ['32', 'video', 'MPV', 90000],
    ['33', 'video', 'MP2T', 90000],
  ];
  for (const [pt, type, codec, clockRate, channels] of statics) {
    it(`static payload type ${pt} is ${codec}`, () => {
      const info = codecOf(media({ type, formats: [pt] }));
      expect(info.codec).toBe(codec);
      expect(info.clockRate).toBe(clockRate);
      expect(info.channels).toBe(channels);
      expect(info.payloadType).toBe(Number(pt));
    });
  }

  it('rtpmap wins over the static table; encoding upper-cased', () => {
    expect(codecOf(media({ formats: ['0'], rtpmap: { payloadType: 0, encoding: 'pcmu', clockRate: 8000 } })).codec).toBe('PCMU');
    expect(codecOf(media({ formats: ['97'], rtpmap: { payloadType: 97, encoding: 'mpeg4-generic', clockRate: 44100, channels: 2 } }))).toEqual({
      kind: 'audio',
      codec: 'MPEG4-GENERIC',
      clockRate: 44100,
      channels: 2,
      payloadType: 97,
    });
  });

  it('unknown dynamic payload type without rtpmap', () => {
    expect(codecOf(media({ type: 'video', formats: ['100'] }))).toEqual({ kind: 'video', codec: '', clockRate: 0, payloadType: 100 });
  });

  it('sameCodecs: same media and codecs, whatever the payload types, controls and other lines', () => {
    const a = value(parseSdp(FFMPEG_SDP));
    const b = value(parseSdp(FFMPEG_SDP.replace(/96/g, '102').replace(/streamid/g, 'trackID').replace('b=AS:64', 'b=AS:96')));
    expect(sameCodecs(a, b)).toBe(true);
    expect(sameCodecs(a, a)).toBe(true);
  });

  it('sameCodecs: a different codec, clock rate, channel count, type or number of media differs', () => {
    const a = value(parseSdp(FFMPEG_SDP));
    expect(sameCodecs(a, value(parseSdp(FFMPEG_SDP.replace('H264/90000', 'H265/90000'))))).toBe(false);
    expect(sameCodecs(a, value(parseSdp(FFMPEG_SDP.replace('opus/48000/2', 'opus/48000/1'))))).toBe(false);
    expect(sameCodecs(a, value(parseSdp(FFMPEG_SDP.replace('opus/48000/2', 'opus/24000/2'))))).toBe(false);
    expect(sameCodecs(a, value(parseSdp(FFMPEG_SDP.replace('m=audio', 'm=application'))))).toBe(false);
    expect(sameCodecs(a, { ...a, media: a.media.slice(0, 1) })).toBe(false);
  });

  it('PCMU/8000 and static PT 0 are the same codec (one channel implied)', () => {
    const x = { lines: ['v=0'], media: [media({ formats: ['0'] })] };
    const y = { lines: ['v=0'], media: [media({ formats: ['0'], rtpmap: { payloadType: 0, encoding: 'PCMU', clockRate: 8000 } })] };
    expect(sameCodecs(x, y)).toBe(true);
  });
});

describe('h264SpropParameterSets', () => {
  it('decodes the SPS and PPS ffmpeg announces', () => {
    const sets = h264SpropParameterSets(FFMPEG_PARSED.media[0]!.fmtp);
    expect(sets).toHaveLength(2);
    expect(sets[0]![0]! & 0x1f).toBe(7); // SPS
    expect(sets[0]![1]).toBe(0x64); // profile_idc 100 (High), as profile-level-id=64000D says
    expect(sets[0]![3]).toBe(0x0d); // level 1.3
    expect(sets[1]![0]! & 0x1f).toBe(8); // PPS
    expect([...sets[1]!]).toEqual([...Buffer.from('aOvjyyLA', 'base64')]);
  });

  it('absent, empty or garbage', () => {
    expect(h264SpropParameterSets(undefined)).toEqual([]);
    expect(h264SpropParameterSets('packetization-mode=1')).toEqual([]);
    expect(h264SpropParameterSets('sprop-parameter-sets=')).toEqual([]);
    expect(h264SpropParameterSets('sprop-parameter-sets=!!!,Z0I=')).toEqual([new Uint8Array([0x67, 0x42])]);
  });

  it('parameter name is case-insensitive and spacing tolerated', () => {
    expect(h264SpropParameterSets('packetization-mode=1;Sprop-Parameter-Sets= Z0I= , aM4= ')).toEqual([
      new Uint8Array([0x67, 0x42]),
      new Uint8Array([0x68, 0xce]),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const textLine = (types: string): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...types), fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/)).map(([t, v]) => `${t}=${v}`);

const sessionLines = fc
  .tuple(fc.array(textLine('osiuepcbtrzk'), { maxLength: 5 }), fc.array(textLine('a'), { maxLength: 4 }))
  .map(([fields, attrs]) => ['v=0', ...fields, ...attrs])
  .filter((ls) => ls.every((l) => !l.startsWith('a=control:') && !l.startsWith('m=')));

const control = fc.stringMatching(/^[!-~]{1,30}$/);

const mediaArb: fc.Arbitrary<MediaDescription> = fc
  .record(
    {
      type: fc.constantFrom('video', 'audio', 'application', 'text'),
      port: fc.integer({ min: 0, max: 65535 }),
      proto: fc.constantFrom('RTP/AVP', 'RTP/SAVP', 'RTP/AVPF'),
      formats: fc.array(fc.integer({ min: 0, max: 127 }).map(String), { minLength: 1, maxLength: 4 }),
      control,
      rtpmap: fc.record(
        {
          encoding: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,12}$/),
          clockRate: fc.integer({ min: 1, max: 200000 }),
          channels: fc.integer({ min: 1, max: 8 }),
        },
        { requiredKeys: ['encoding', 'clockRate'] },
      ),
      fmtp: fc.stringMatching(/^[!-~]([ -~]{0,40}[!-~])?$/),
      lines: fc.array(textLine('icbka'), { maxLength: 5 }),
    },
    { requiredKeys: ['type', 'port', 'proto', 'formats', 'lines'] },
  )
  .map((m) => {
    const first = m.formats[0]!;
    const out: MediaDescription = { type: m.type, port: m.port, proto: m.proto, formats: m.formats, lines: [] };
    if (m.control !== undefined) out.control = m.control;
    if (m.rtpmap !== undefined) out.rtpmap = { ...m.rtpmap, payloadType: Number(first) };
    if (m.fmtp !== undefined) out.fmtp = m.fmtp;
    out.lines = m.lines.filter(
      (l) => !l.startsWith('a=control:') && !l.startsWith(`a=rtpmap:${first} `) && !l.startsWith(`a=fmtp:${first} `),
    );
    return out;
  });

const sdpArb: fc.Arbitrary<SessionDescription> = fc
  .record({ lines: sessionLines, control, media: fc.array(mediaArb, { maxLength: 16 }) }, { requiredKeys: ['lines', 'media'] })
  .map((s) => (s.control === undefined ? { lines: s.lines, media: s.media } : { lines: s.lines, control: s.control, media: s.media }));

describe('properties', () => {
  it('parse(write(sdp)) equals the sdp', () => {
    fc.assert(
      fc.property(sdpArb, (sdp) => {
        const text = writeSdp(sdp);
        expect(text.endsWith('\r\n')).toBe(true);
        expect(value(parseSdp(text))).toEqual(sdp);
      }),
      { numRuns: 1000 },
    );
  });

  it('any text: a result, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.array(fc.oneof(textLine('vmab'), fc.string()), { maxLength: 20 }).map((l) => l.join('\n'))), (text) => {
        const r = parseSdp(text);
        expect(typeof r.ok).toBe('boolean');
        if (r.ok) {
          for (const m of r.value.media) codecOf(m);
          sameCodecs(r.value, r.value);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
