// RFC 2326 §12.39 Transport header:
//   Transport = "Transport" ":" 1#transport-spec
//   transport-spec = transport-protocol/profile[/lower-transport] *parameter
// A client may offer several comma-separated alternatives, most preferred first.
//
// Real peers:
//   ffmpeg 5.1 publishing:  RTP/AVP/TCP;unicast;interleaved=0-1;mode=record
//                           RTP/AVP/UDP;unicast;client_port=N-N+1;mode=record
//   GStreamer 1.22 playing: RTP/AVP/TCP;unicast;interleaved=0-1
//                           RTP/AVP;unicast;client_port=5000-5001
// ffmpeg's own parser (libavformat/rtsp.c) reads `mode` with get_word_sep and does not strip
// quotes, so we write mode=record / mode=play bare, never mode="RECORD".

import { fail, ok, type Result } from './errors.ts';

export interface TransportSpec {
  protocol: string; // "RTP/AVP", "RTP/AVP/UDP", "RTP/AVP/TCP", "RTP/SAVP", ...
  lowerTransport: 'UDP' | 'TCP';
  delivery?: 'unicast' | 'multicast';
  interleaved?: [number, number];
  clientPort?: [number, number];
  serverPort?: [number, number];
  mode?: 'play' | 'record';
  ssrc?: number;
  destination?: string;
  source?: string;
  ttl?: number;
  extra: Array<[string, string | undefined]>; // unrecognised params kept in order
}

/** Splits on `sep` outside double quotes; undefined if a quote is left open. */
export function splitOutsideQuotes(value: string, sep: string): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && quoted) i++;
    else if (c === sep && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  out.push(value.slice(start));
  return out;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

const PROTOCOL = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)?$/;

/** "a-b", or a single "a" meaning a and a+1 (RFC 2326 §12.39: RTCP on the next port / channel). */
function parsePair(value: string | undefined, max: number): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(value);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a + 1 : Number(m[2]);
  return a <= max && b <= max ? [a, b] : undefined;
}

type SpecResult = { kind: 'spec'; spec: TransportSpec } | { kind: 'unsupported'; lower: string } | { kind: 'error'; message: string };

function parseSpec(text: string): SpecResult {
  const parts = splitOutsideQuotes(text, ';');
  if (!parts) return { kind: 'error', message: 'unterminated quote' };
  const protocol = parts[0]!.trim();
  if (!PROTOCOL.test(protocol)) return { kind: 'error', message: `"${protocol}" is not transport/profile[/lower-transport]` };
  const lower = (protocol.split('/')[2] ?? 'UDP').toUpperCase(); // RFC 2326 §12.39: UDP when absent
  if (lower !== 'UDP' && lower !== 'TCP') return { kind: 'unsupported', lower };
  const spec: TransportSpec = { protocol, lowerTransport: lower, extra: [] };

  for (const raw of parts.slice(1)) {
    const param = raw.trim();
    if (param === '') continue; // "…;unicast;" — a trailing ';' is common and harmless
    const eq = param.indexOf('=');
    const name = (eq < 0 ? param : param.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : param.slice(eq + 1).trim();
    const bad = (): SpecResult => ({ kind: 'error', message: `bad ${name} parameter "${param}"` });
    switch (name.toLowerCase()) {
      case 'unicast':
      case 'multicast':
        if (value !== undefined) return bad();
        spec.delivery = name.toLowerCase() as 'unicast' | 'multicast';
        break;
      case 'interleaved': {
        const pair = parsePair(value, 0xff);
        if (!pair) return bad();
        spec.interleaved = pair;
        break;
      }
      case 'client_port': {
        const pair = parsePair(value, 0xffff);
        if (!pair) return bad();
        spec.clientPort = pair;
        break;
      }
      case 'server_port': {
        const pair = parsePair(value, 0xffff);
        if (!pair) return bad();
        spec.serverPort = pair;
        break;
      }
      case 'mode': {
        if (value === undefined) return bad();
        const mode = unquote(value).trim().toLowerCase();
        // ffmpeg also accepts "receive" as a synonym of record (libavformat/rtsp.c).
        if (mode === 'play') spec.mode = 'play';
        else if (mode === 'record' || mode === 'receive') spec.mode = 'record';
        else spec.extra.push([name, value]); // e.g. mode="PLAY,RECORD": kept, the server decides
        break;
      }
      case 'ssrc': {
        // RFC 2326: 8*8(HEX). Some cameras drop leading zeros, so 1 to 8 digits.
        if (value === undefined || !/^[0-9A-Fa-f]{1,8}$/.test(value)) return bad();
        spec.ssrc = parseInt(value, 16);
        break;
      }
      case 'ttl': {
        if (value === undefined || !/^[0-9]{1,3}$/.test(value) || Number(value) > 255) return bad();
        spec.ttl = Number(value);
        break;
      }
      case 'destination':
        if (value === undefined) spec.extra.push([name, value]); // bare "destination": the client's own address
        else spec.destination = unquote(value);
        break;
      case 'source':
        if (value === undefined) return bad();
        spec.source = unquote(value);
        break;
      default:
        if (name === '') return bad();
        spec.extra.push([name, value]);
    }
  }
  return { kind: 'spec', spec };
}

/**
 * All alternatives the header offers, in order. A syntax error anywhere is 400. Alternatives over a
 * lower transport other than UDP or TCP are left out; if that leaves none, 461 Unsupported Transport.
 */
export function parseTransport(value: string): Result<TransportSpec[]> {
  const alternatives = splitOutsideQuotes(value, ',');
  if (!alternatives) return fail('bad_transport', 'Transport header has an unterminated quote');
  const specs: TransportSpec[] = [];
  const unsupported: string[] = [];
  for (const alt of alternatives) {
    if (alt.trim() === '') continue;
    const r = parseSpec(alt.trim());
    if (r.kind === 'error') return fail('bad_transport', `Transport header: ${r.message}`);
    if (r.kind === 'unsupported') unsupported.push(r.lower);
    else specs.push(r.spec);
  }
  if (specs.length === 0) {
    if (unsupported.length > 0) return fail('unsupported_transport', `lower transport ${unsupported.join(', ')} is not supported`, 461);
    return fail('bad_transport', 'empty Transport header');
  }
  return ok(specs);
}

function pair(p: readonly [number, number]): string {
  return `${p[0]}-${p[1]}`;
}

/** One transport-spec (no commas). The protocol's lower-transport part is made to agree with lowerTransport. */
export function writeTransport(spec: TransportSpec): string {
  const comps = spec.protocol.split('/');
  if (comps.length >= 3) {
    if (comps[2]!.toUpperCase() !== spec.lowerTransport) comps[2] = spec.lowerTransport;
  } else if (spec.lowerTransport === 'TCP') {
    comps.push('TCP');
  }
  const parts = [comps.join('/')];
  if (spec.delivery !== undefined) parts.push(spec.delivery);
  if (spec.destination !== undefined) parts.push(`destination=${spec.destination}`);
  if (spec.source !== undefined) parts.push(`source=${spec.source}`);
  if (spec.interleaved !== undefined) parts.push(`interleaved=${pair(spec.interleaved)}`);
  if (spec.clientPort !== undefined) parts.push(`client_port=${pair(spec.clientPort)}`);
  if (spec.serverPort !== undefined) parts.push(`server_port=${pair(spec.serverPort)}`);
  if (spec.ttl !== undefined) parts.push(`ttl=${spec.ttl}`);
  if (spec.ssrc !== undefined) parts.push(`ssrc=${(spec.ssrc >>> 0).toString(16).toUpperCase().padStart(8, '0')}`);
  if (spec.mode !== undefined) parts.push(`mode=${spec.mode}`);
  for (const [name, value] of spec.extra) parts.push(value === undefined ? name : `${name}=${value}`);
  return parts.join(';');
}
