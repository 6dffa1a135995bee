// What a publisher's SDP may not smuggle past the relay to its players (issue 12, item 3): line ends that parsers
// split differently, control bytes, attribute names in another case, and a second control URL.
import { describe, expect, it } from 'vitest';
import type { Result } from '../../../../server/protocols/rtsp/errors.ts';
import { attributeName, parseSdp, playerSdp, writeSdp, type SessionDescription } from '../../../../server/protocols/rtsp/sdp.ts';
import { announcedSdp } from '../../../fixtures/rtsp/load.ts';

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}


const FFMPEG_SDP = announcedSdp('ffmpeg-5.1-publish-tcp-02-announce.bin');
const GST_SDP = announcedSdp('gstreamer-1.22-publish-tcp-02-announce.bin');

/** The lines of a written SDP up to the first m= line. */
function sessionPart(text: string): string[] {
  const lines = text.split('\r\n');
  const m = lines.findIndex((l) => l.startsWith('m='));
  return m < 0 ? lines : lines.slice(0, m);
}

describe('parseSdp refuses what parsers would read differently', () => {
  const lines = (...ls: string[]) => ls.join('\r\n') + '\r\n';
  const base = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=x', 't=0 0'];
  const media = ['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:streamid=0'];

  const refused: Array<{ what: string; text: string; code: string; says: RegExp }> = [
    // The attack of the issue: live555-based players end a line at a bare CR and would obey the second a=control.
    { what: 'a bare CR inside a line', text: lines(...base, 'a=tool:x\ra=control:rtsp://127.0.0.1/other', ...media), code: 'sdp_bare_cr', says: /line 5 .*bare CR/ },
    { what: 'a bare CR at the very end', text: lines(...base, ...media) + 'a=x:y\r', code: 'sdp_bare_cr', says: /bare CR/ },
    { what: 'a CR pair before LF (CR CR LF)', text: lines(...base, 'a=tool:x\r', ...media), code: 'sdp_bare_cr', says: /line 5 .*bare CR/ },
    { what: 'a bare LF in a CRLF description', text: lines(...base, 'a=tool:x\na=control:rtsp://127.0.0.1/other', ...media), code: 'sdp_bare_lf', says: /line 5 .*bare LF/ },
    { what: 'a CRLF in an LF description', text: [...base, 'a=tool:x\r', ...media].join('\n') + '\n', code: 'sdp_bare_cr', says: /line 5 .*CR .*LF/ },
    { what: 'a NUL byte', text: lines(...base, 'a=tool:x\0y', ...media), code: 'sdp_control_char', says: /line 5 .*NUL/ },
    { what: 'a NUL byte in a media section', text: lines(...base, ...media, 'a=x-note:\0'), code: 'sdp_control_char', says: /line 8 .*NUL/ },
    { what: 'an escape byte (0x1B)', text: lines(...base, 's=\x1b[2Jhello', ...media), code: 'sdp_control_char', says: /0x1B/ },
    { what: 'a vertical tab (0x0B)', text: lines(...base, 'i=a\x0bb', ...media), code: 'sdp_control_char', says: /0x0B/ },
    { what: 'DEL (0x7F)', text: lines(...base, 'i=a\x7fb', ...media), code: 'sdp_control_char', says: /0x7F/ },
    { what: 'NEL (U+0085)', text: lines(...base, 'i=a\u0085b', ...media), code: 'sdp_control_char', says: /U\+0085/ },
    { what: 'a second session-level a=control', text: lines(...base, 'a=control:*', 'a=control:rtsp://127.0.0.1/other', ...media), code: 'sdp_duplicate_control', says: /session level/ },
    { what: 'a second media-level a=control, in another case', text: lines(...base, ...media, 'a=CONTROL:rtsp://127.0.0.1/other'), code: 'sdp_duplicate_control', says: /media 1/ },
    { what: 'a line with an upper-case type (A=control)', text: lines(...base, ...media, 'A=control:rtsp://127.0.0.1/other'), code: 'sdp_bad_line', says: /line 8 .*lower-case type/ },
    { what: 'a line that is not type=value', text: lines(...base, 'hello', ...media), code: 'sdp_bad_line', says: /line 5/ },
  ];
  for (const r of refused) {
    it(`${r.what}: ${r.code}, 400, and the message says where`, () => {
      const p = parseSdp(r.text);
      expect(p.ok).toBe(false);
      if (p.ok) return;
      expect(p.error.code).toBe(r.code);
      expect(p.error.status).toBe(400);
      expect(p.error.message).toMatch(r.says);
      expect(p.error.message).not.toMatch(/[\0\r\n\x1b\x0b\x7f\u0085]/); // it reports bytes, never echoes them
    });
  }

  it('accepts CRLF or LF throughout, a TAB in text, a last line without its line end, blank lines and UTF-8', () => {
    const crlf = lines(...base, 'i=tab\there, caf\u00e9', ...media);
    const lf = crlf.replace(/\r\n/g, '\n');
    for (const text of [crlf, lf, crlf.slice(0, -2), lf.slice(0, -1), crlf.replace('t=0 0\r\n', 't=0 0\r\n\r\n')]) {
      const sdp = value(parseSdp(text));
      expect(sdp.lines).toContain('i=tab\there, caf\u00e9');
      expect(sdp.media[0]?.control).toBe('streamid=0');
    }
  });

  it('every captured publisher SDP still parses', () => {
    for (const text of [FFMPEG_SDP, GST_SDP]) expect(parseSdp(text).ok).toBe(true);
  });
});

describe('attribute names are matched without regard to case', () => {
  it('attributeName', () => {
    expect(attributeName('a=control:x')).toBe('control');
    expect(attributeName('a=Control:x')).toBe('control');
    expect(attributeName('a=RECVONLY')).toBe('recvonly');
    expect(attributeName('a=fmtp:96 x=1')).toBe('fmtp');
    expect(attributeName('b=AS:64')).toBeUndefined();
  });

  it('a=Control, a=RTPMAP and a=FMTP are the control, rtpmap and fmtp, and are written back in lower case', () => {
    const text = ['v=0', 's=x', 't=0 0', 'a=CONTROL:rtsp://h/s', 'm=video 0 RTP/AVP 96', 'a=RTPMAP:96 H264/90000', 'a=Fmtp:96 packetization-mode=1', 'a=Control:streamid=0', ''].join('\r\n');
    const sdp = value(parseSdp(text));
    expect(sdp.control).toBe('rtsp://h/s');
    expect(sdp.lines).toEqual(['v=0', 's=x', 't=0 0']);
    expect(sdp.media[0]).toMatchObject({ control: 'streamid=0', rtpmap: { payloadType: 96, encoding: 'H264', clockRate: 90000 }, fmtp: 'packetization-mode=1', lines: [] });
    expect(writeSdp(sdp)).toBe(['v=0', 's=x', 't=0 0', 'a=control:rtsp://h/s', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1', 'a=control:streamid=0', ''].join('\r\n'));
  });
});

describe('playerSdp: what DESCRIBE answers', () => {
  it('the ffmpeg SDP: exactly one a=control:* at session level, one trackID=N per medium', () => {
    const text = writeSdp(playerSdp(value(parseSdp(FFMPEG_SDP))));
    expect(sessionPart(text).filter((l) => /^a=control:/i.test(l))).toEqual(['a=control:*']);
    expect(text.match(/^a=control:.*$/gim)).toEqual(['a=control:*', 'a=control:trackID=0', 'a=control:trackID=1']);
  });

  it('the GStreamer SDP: the same', () => {
    const text = writeSdp(playerSdp(value(parseSdp(GST_SDP))));
    expect(text.match(/^a=control:.*$/gim)).toEqual(['a=control:*', 'a=control:trackID=0', 'a=control:trackID=1']);
  });

  it("drops the publisher's control, range and direction attributes whatever their case", () => {
    const text = [
      'v=0', 's=x', 't=0 0', 'a=Control:rtsp://127.0.0.1/other', 'a=RANGE:npt=0-10', 'a=SendOnly', 'a=tool:kept',
      'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=Control:rtsp://127.0.0.1/other/trackID=9', 'a=SENDONLY', 'a=Range:npt=0-10', 'a=framerate:25', '',
    ].join('\r\n');
    const out = writeSdp(playerSdp(value(parseSdp(text))));
    expect(out).not.toMatch(/other|range|sendonly/i);
    expect(out).toBe(['v=0', 's=x', 't=0 0', 'a=tool:kept', 'a=control:*', 'm=video 0 RTP/AVP 96', 'a=framerate:25', 'a=rtpmap:96 H264/90000', 'a=control:trackID=0', ''].join('\r\n'));
  });

  it('what it writes parses back to itself', () => {
    const sdp: SessionDescription = playerSdp(value(parseSdp(GST_SDP)));
    expect(value(parseSdp(writeSdp(sdp)))).toEqual(sdp);
  });
});
