// SDP (RFC 4566) as RTSP uses it: the body of ANNOUNCE (publisher → server) and of the DESCRIBE
// response (server → player). We keep every line we do not interpret, in order, so a publisher's
// description reaches players unchanged apart from the control URLs the server rewrites.

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
const RTPMAP = /^a=rtpmap:([0-9]+) ([^/\s]+)\/([0-9]+)(?:\/([0-9]+))?\s*$/;

function isRtp(proto: string): boolean {
  return /^RTP\//i.test(proto);
}

/**
 * Parses a session description. Tolerant of LF or CRLF line ends, blank lines and unknown line
 * types (kept verbatim); strict about what a relay depends on: v= first, well-formed m= lines,
 * numeric payload types on RTP media, a well-formed rtpmap for each medium's first format, at most
 * 16 media and 64 KiB of text.
 */
export function parseSdp(text: string): Result<SessionDescription> {
  if (Buffer.byteLength(text, 'utf8') > MAX_SDP_BYTES) return fail('sdp_too_large', `SDP longer than ${MAX_SDP_BYTES} bytes`, 413);
  const all = text.split(/\r?\n/).map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  if (all.length === 0 || !all[0]!.startsWith('v=')) return fail('sdp_no_version', 'SDP does not start with a v= line');

  const session: SessionDescription = { lines: [], media: [] };
  let current: MediaDescription | undefined;
  for (const line of all) {
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
    if (current === undefined) {
      if (line.startsWith('a=control:') && session.control === undefined) session.control = line.slice('a=control:'.length).trim();
      else session.lines.push(line);
      continue;
    }
    const first = current.formats[0]!;
    if (line.startsWith('a=control:') && current.control === undefined) {
      current.control = line.slice('a=control:'.length).trim();
    } else if (line.startsWith(`a=rtpmap:${first} `) && current.rtpmap === undefined && isRtp(current.proto)) {
      const r = RTPMAP.exec(line);
      if (!r) return fail('sdp_bad_rtpmap', `bad rtpmap "${line}"`);
      const rtpmap: RtpMap = { payloadType: Number(r[1]), encoding: r[2]!, clockRate: Number(r[3]) };
      if (r[4] !== undefined) rtpmap.channels = Number(r[4]);
      current.rtpmap = rtpmap;
    } else if (line.startsWith(`a=fmtp:${first} `) && current.fmtp === undefined) {
      current.fmtp = line.slice(`a=fmtp:${first} `.length).trim();
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
