// SDP (RFC 4566) as RTSP uses it: the body of ANNOUNCE (publisher → server) and of the DESCRIBE
// response (server → player). A description that parsers could read differently (bare CR, mixed line
// ends, control characters, two a=control) is refused; of the rest we keep every line we do not
// interpret, in order, and DESCRIBE is written from the parsed description (playerSdp + writeSdp):
// CRLF line ends, our own control URLs, the publisher's control, range and direction attributes gone.

import { fail, ok, type Result } from './errors.ts';

export interface RtpMap {
  payloadType: number;
  encoding: string;
  clockRate: number;
  channels?: number;
}

export interface MediaDescription {
  type: string; // video | audio | application | ...
  port: number;
  proto: string;
  formats: string[];
  control?: string; // a=control
  rtpmap?: RtpMap; // of the first format
  fmtp?: string; // parameters of the first format (text after "a=fmtp:PT ")
  lines: string[]; // every other line of the section, in order
}

export interface SessionDescription {
  lines: string[]; // session-level lines in order, excluding a=control
  control?: string;
  media: MediaDescription[];
}

export const MAX_SDP_BYTES = 64 * 1024;
export const MAX_MEDIA = 16;

// RFC 4566 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
const M_LINE = /^m=(\S+)[ \t]+([0-9]+)(?:\/([0-9]+))?[ \t]+(\S+)((?:[ \t]+\S+)*)[ \t]*$/;
// RFC 4566 §6 a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>], as the attribute's value.
const RTPMAP_VALUE = /^([0-9]+) ([^/\s]+)\/([0-9]+)(?:\/([0-9]+))?\s*$/;
// RFC 4566 §5: <type>=<value>, the type exactly one case-significant letter. Every type defined is lower case, and
// "a parser MUST completely ignore any session description that contains a type letter that it does not understand",
// so an "A=control:…" line would make conforming players drop the whole description.
const LINE_TYPE = /^[a-z]=/;

function isRtp(proto: string): boolean {
  return /^RTP\//i.test(proto);
}

/**
 * The name of an attribute line (RFC 4566 §5.13 "a=<attribute>" or "a=<attribute>:<value>"), lower-cased, or
 * undefined for other lines. Names are matched without regard to case: RFC 2326 §C.1.1 and RFC 4566 §9 define them
 * as ABNF literals, which are case-insensitive (RFC 5234 §2.3), so "a=Control:" is an a=control that a player may obey.
 */
export function attributeName(line: string): string | undefined {
  if (!line.startsWith('a=')) return undefined;
  const colon = line.indexOf(':');
  return (colon < 0 ? line.slice(2) : line.slice(2, colon)).trim().toLowerCase();
}

/** The value of an attribute line: the text after the first ':' ("" for a property attribute such as a=recvonly). */
function attributeValue(line: string): string {
  const colon = line.indexOf(':');
  return colon < 0 ? '' : line.slice(colon + 1);
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

function hexByte(c: number): string {
  return `0x${c.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * Splits an SDP into lines, refusing what different parsers would split differently.
 *
 * Line ends (RFC 4566 §5: CRLF, and parsers "SHOULD be tolerant and also accept records terminated with a single
 * newline character"): a description uses CRLF or bare LF, one kind throughout, as its first line end says. A bare CR
 * (a CR not followed by LF) is refused, since live555-based players and many NVRs end a line there and would read a
 * second line our parser does not see; so is a bare LF in a CRLF description (a reader that splits on CRLF only would
 * not see that line end), and a CRLF in an LF description (the CR is then inside the line). The last line may lack
 * its line end.
 *
 * Characters: RFC 4566 §5/§9 text is UTF-8 (by default) without NUL, CR or LF. We refuse every other control
 * character too — C0 except TAB, DEL and C1 (U+0080–U+009F, NEL U+0085 among them) — because no publisher needs one
 * and some readers treat them as line or field ends. TAB is allowed: RFC 4566's byte-string admits it and some
 * writers separate m= fields with it.
 */
function splitLines(text: string): Result<string[]> {
  const firstLf = text.indexOf('\n');
  const crlf = firstLf > 0 && text.charCodeAt(firstLf - 1) === CR;
  const lines: string[] = [];
  let start = 0;
  let n = 1; // line number, for the message
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      if (crlf && text.charCodeAt(i - 1) !== CR) {
        return fail('sdp_bare_lf', `SDP line ${n} ends with a bare LF while line 1 ends with CRLF; end every line with CRLF (or every line with LF)`);
      }
      lines.push(text.slice(start, crlf ? i - 1 : i));
      start = i + 1;
      n++;
    } else if (c === CR) {
      if (!crlf) return fail('sdp_bare_cr', `SDP line ${n} contains a CR (0x0D) in a description whose lines end with LF; end every line with CRLF or every line with LF`);
      if (text.charCodeAt(i + 1) !== LF) return fail('sdp_bare_cr', `SDP line ${n} contains a bare CR (0x0D not followed by LF); a CR may only end a line, as part of CRLF`);
    } else if ((c < 0x20 && c !== TAB) || (c >= 0x7f && c <= 0x9f)) {
      const what = c === 0 ? 'a NUL byte (0x00)' : c > 0x7f ? `the control character U+00${c.toString(16).toUpperCase()}` : `the control byte ${hexByte(c)}`;
      return fail('sdp_control_char', `SDP line ${n} contains ${what}; SDP text may not contain control characters other than TAB (RFC 4566 §5)`);
    }
  }
  if (start < text.length) lines.push(text.slice(start));
  return ok(lines);
}

/**
 * Parses a session description. Tolerant of LF or CRLF line ends (one kind per description), blank lines and unknown
 * lower-case line types and attributes (kept verbatim); strict about what a relay depends on or a player could read
 * differently: no bare CR, mixed line ends or control characters (see splitLines), lines of the form <type>=<value>,
 * v= first, well-formed m= lines, numeric payload types on RTP media, a well-formed rtpmap for each medium's first
 * format, at most one a=control per section, at most 16 media and 64 KiB of text. Attribute names are matched
 * without regard to case; the attributes parsed out (control, first format's rtpmap and fmtp) are written back in
 * canonical lower case by writeSdp.
 */
export function parseSdp(text: string): Result<SessionDescription> {
  if (Buffer.byteLength(text, 'utf8') > MAX_SDP_BYTES) return fail('sdp_too_large', `SDP longer than ${MAX_SDP_BYTES} bytes`, 413);
  const split = splitLines(text);
  if (!split.ok) return split;
  const all: Array<{ line: string; n: number }> = [];
  for (const [i, line] of split.value.entries()) if (line.trim() !== '') all.push({ line, n: i + 1 });
  if (all.length === 0 || !all[0]!.line.startsWith('v=')) return fail('sdp_no_version', 'SDP does not start with a v= line');

  const session: SessionDescription = { lines: [], media: [] };
  let current: MediaDescription | undefined;
  for (const { line, n } of all) {
    if (!LINE_TYPE.test(line)) {
      return fail('sdp_bad_line', `SDP line ${n} is not <type>=<value> with a lower-case type letter (RFC 4566 §5)`);
    }
    if (line.startsWith('m=')) {
      if (session.media.length >= MAX_MEDIA) return fail('sdp_too_many_media', `SDP has more than ${MAX_MEDIA} media`);
      const m = M_LINE.exec(line);
      if (!m) return fail('sdp_bad_media', `bad media line "${line}"`);
      const port = Number(m[2]);
      if (port > 0xffff) return fail('sdp_bad_media', `bad port in media line "${line}"`);
      const proto = m[4]!;
      const formats = m[5]!.trim() === '' ? [] : m[5]!.trim().split(/[ \t]+/);
      if (formats.length === 0) return fail('sdp_bad_media', `media line without formats "${line}"`);
      if (isRtp(proto) && formats.some((f) => !/^[0-9]{1,3}$/.test(f) || Number(f) > 127)) {
        return fail('sdp_bad_media', `non-numeric payload type in media line "${line}"`);
      }
      // A "/<number of ports>" (layered multicast) is dropped: RTSP negotiates ports in SETUP.
      current = { type: m[1]!, port, proto, formats, lines: [] };
      session.media.push(current);
      continue;
    }
    const name = attributeName(line);
    if (name === 'control') {
      // RFC 2326 §C.1.1: one control URL per session and per medium. With two, players would pick one each their way.
      const owner: { control?: string } = current ?? session;
      if (owner.control !== undefined) {
        const where = current === undefined ? 'at session level' : `in media ${session.media.length}`;
        return fail('sdp_duplicate_control', `SDP has more than one a=control ${where} (line ${n})`);
      }
      owner.control = attributeValue(line).trim();
      continue;
    }
    if (current === undefined) {
      session.lines.push(line);
      continue;
    }
    const first = current.formats[0]!;
    const value = attributeValue(line);
    if (name === 'rtpmap' && current.rtpmap === undefined && isRtp(current.proto) && value.startsWith(`${first} `)) {
      const r = RTPMAP_VALUE.exec(value);
      if (!r) return fail('sdp_bad_rtpmap', `bad rtpmap "${line}"`);
      const rtpmap: RtpMap = { payloadType: Number(r[1]), encoding: r[2]!, clockRate: Number(r[3]) };
      if (r[4] !== undefined) rtpmap.channels = Number(r[4]);
      current.rtpmap = rtpmap;
    } else if (name === 'fmtp' && current.fmtp === undefined && value.startsWith(`${first} `)) {
      current.fmtp = value.slice(`${first} `.length).trim();
    } else {
      current.lines.push(line);
    }
  }
  return ok(session);
}

/**
 * CRLF line ends (RFC 4566 §5). The parsed-out attributes go after the kept lines: attributes are the
 * last lines of a section, so the order RFC 4566 requires (v o s i u e p c b t r z k a; m i c b k a)
 * holds whenever the kept lines are in that order.
 */
export function writeSdp(sdp: SessionDescription): string {
  const out = [...sdp.lines];
  if (sdp.control !== undefined) out.push(`a=control:${sdp.control}`);
  for (const m of sdp.media) {
    out.push(`m=${m.type} ${m.port} ${m.proto} ${m.formats.join(' ')}`);
    out.push(...m.lines);
    const first = m.formats[0];
    if (m.rtpmap !== undefined) {
      const { payloadType, encoding, clockRate, channels } = m.rtpmap;
      out.push(`a=rtpmap:${payloadType} ${encoding}/${clockRate}${channels === undefined ? '' : `/${channels}`}`);
    }
    if (m.fmtp !== undefined) out.push(`a=fmtp:${first ?? ''} ${m.fmtp}`);
    if (m.control !== undefined) out.push(`a=control:${m.control}`);
  }
  return out.map((l) => l + '\r\n').join('');
}

/** Attributes a relay must not pass on to players: it states control and direction itself (RFC 2326 §C.1.1, RFC 4566 §6). */
const SERVER_OWNED_ATTRIBUTES: ReadonlySet<string> = new Set(['control', 'range', 'sendonly', 'recvonly', 'sendrecv', 'inactive']);

/**
 * The description players get in DESCRIBE, built from the parsed one: the session's control is "*" (written once, by
 * writeSdp), each medium's is "trackID=N", ports are 0, and the publisher's control, range and direction attributes
 * are gone, whatever their case.
 */
export function playerSdp(source: SessionDescription): SessionDescription {
  const keep = (l: string) => !SERVER_OWNED_ATTRIBUTES.has(attributeName(l) ?? '');
  return {
    lines: source.lines.filter(keep),
    control: '*',
    media: source.media.map((m, i) => ({ ...m, port: 0, control: `trackID=${i}`, lines: m.lines.filter(keep) })),
  };
}

/**
 * The absolute control URL of a track (RFC 2326 §C.1.1): '*' or none means the aggregate (base) URL,
 * an absolute URL is kept, a relative one is appended to the base with exactly one '/'. ffmpeg and
 * GStreamer append the same way rather than resolving per RFC 3986, which would drop the last path
 * segment of a base without a trailing slash. `index` is the track's position, unused by this rule
 * but part of the signature so callers can log it / a future rule can name unnamed tracks.
 */
export function resolveControl(base: string, control: string | undefined, index: number): string {
  void index;
  if (control === undefined || control === '' || control === '*') return base;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(control)) return control;
  return `${base.replace(/\/+$/, '')}/${control.replace(/^\/+/, '')}`;
}

export interface CodecInfo {
  kind: 'video' | 'audio' | 'other';
  codec: string;
  clockRate: number;
  channels?: number;
  payloadType: number;
}

// RFC 3551 §6, Tables 4 and 5: static payload types, used when a medium has no rtpmap.
const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, { codec: string; clockRate: number; channels?: number }> = new Map([
  [0, { codec: 'PCMU', clockRate: 8000, channels: 1 }],
  [3, { codec: 'GSM', clockRate: 8000, channels: 1 }],
  [4, { codec: 'G723', clockRate: 8000, channels: 1 }],
  [5, { codec: 'DVI4', clockRate: 8000, channels: 1 }],
  [6, { codec: 'DVI4', clockRate: 16000, channels: 1 }],
  [7, { codec: 'LPC', clockRate: 8000, channels: 1 }],
  [8, { codec: 'PCMA', clockRate: 8000, channels: 1 }],
  [9, { codec: 'G722', clockRate: 8000, channels: 1 }],
  [10, { codec: 'L16', clockRate: 44100, channels: 2 }],
  [11, { codec: 'L16', clockRate: 44100, channels: 1 }],
  [12, { codec: 'QCELP', clockRate: 8000, channels: 1 }],
  [13, { codec: 'CN', clockRate: 8000, channels: 1 }],
  [14, { codec: 'MPA', clockRate: 90000 }],
  [15, { codec: 'G728', clockRate: 8000, channels: 1 }],
  [16, { codec: 'DVI4', clockRate: 11025, channels: 1 }],
  [17, { codec: 'DVI4', clockRate: 22050, channels: 1 }],
  [18, { codec: 'G729', clockRate: 8000, channels: 1 }],
  [25, { codec: 'CELB', clockRate: 90000 }],
  [26, { codec: 'JPEG', clockRate: 90000 }],
  [28, { codec: 'NV', clockRate: 90000 }],
  [31, { codec: 'H261', clockRate: 90000 }],
  [32, { codec: 'MPV', clockRate: 90000 }],
  [33, { codec: 'MP2T', clockRate: 90000 }],
  [34, { codec: 'H263', clockRate: 90000 }],
]);

/**
 * What a medium carries. Audio without a channel count in its rtpmap has one channel (RFC 4566
 * §6: the parameter "may be omitted if the number of channels is one"), so "PCMU/8000" and static
 * PT 0 compare equal. An unknown format gives codec "" and clock rate 0.
 */
export function codecOf(media: MediaDescription): CodecInfo {
  const kind = media.type === 'video' ? 'video' : media.type === 'audio' ? 'audio' : 'other';
  const first = media.formats[0] ?? '';
  const payloadType = /^[0-9]+$/.test(first) ? Number(first) : -1;
  let codec = '';
  let clockRate = 0;
  let channels: number | undefined;
  if (media.rtpmap !== undefined) {
    codec = media.rtpmap.encoding.toUpperCase();
    clockRate = media.rtpmap.clockRate;
    channels = media.rtpmap.channels;
  } else {
    const known = STATIC_PAYLOAD_TYPES.get(payloadType);
    if (known !== undefined && isRtp(media.proto)) {
      codec = known.codec;
      clockRate = known.clockRate;
      channels = known.channels;
    }
  }
  if (channels === undefined && kind === 'audio' && codec !== '') channels = 1;
  const info: CodecInfo = { kind, codec, clockRate, payloadType };
  if (channels !== undefined) info.channels = channels;
  return info;
}

/** Same media in the same order with the same codecs: a republish a player can keep playing. */
export function sameCodecs(a: SessionDescription, b: SessionDescription): boolean {
  if (a.media.length !== b.media.length) return false;
  return a.media.every((ma, i) => {
    const mb = b.media[i]!;
    if (ma.type !== mb.type) return false;
    const ca = codecOf(ma);
    const cb = codecOf(mb);
    return ca.codec === cb.codec && ca.clockRate === cb.clockRate && ca.channels === cb.channels;
  });
}

/** Splits "a=1; b=2" format parameters (RFC 4566 §6 a=fmtp) into lower-cased names and values. */
export function fmtpParams(fmtp: string | undefined): Map<string, string> {
  const params = new Map<string, string>();
  if (fmtp === undefined) return params;
  for (const part of fmtp.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name !== '' && !params.has(name)) params.set(name, eq < 0 ? '' : part.slice(eq + 1).trim());
  }
  return params;
}

/** RFC 6184 §8.1: sprop-parameter-sets is a comma-separated list of base64 NAL units (SPS, PPS, …). */
export function h264SpropParameterSets(fmtp: string | undefined): Uint8Array[] {
  const value = fmtpParams(fmtp).get('sprop-parameter-sets');
  if (value === undefined) return [];
  const out: Uint8Array[] = [];
  for (const part of value.split(',')) {
    const b64 = part.trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue; // not base64: skip rather than decode garbage
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length > 0) out.push(new Uint8Array(bytes));
  }
  return out;
}
