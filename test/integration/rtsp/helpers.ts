// Small helpers shared by the RTSP integration tests: polling instead of fixed sleeps, raw sockets for requests
// our client would never send, and finding the external tools a test needs.
import net from 'node:net';
import { execa } from 'execa';
import { parseIncoming } from '../../../server/protocols/rtsp/interleaved.ts';
import type { RtspResponse } from '../../../server/protocols/rtsp/message.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolve once cond() holds, polling every `every` ms; throw naming `what` after timeoutMs. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, every = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(every);
  }
}

export interface RawResult {
  /** The responses that arrived, in order. */
  responses: RtspResponse[];
  /** The server closed the connection (before our timeout). */
  closed: boolean;
  /** Milliseconds from the first write to the close, or to the last response if still open. */
  elapsedMs: number;
}

/**
 * Write bytes on a fresh TCP connection and collect the answers until the server closes it, `expect` responses
 * have arrived, or waitMs passes. For requests no well-behaved client sends.
 */
export async function raw(
  port: number,
  data: string | Uint8Array | Array<string | Uint8Array>,
  o: { expect?: number; waitMs?: number; gapMs?: number } = {},
): Promise<RawResult> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const started = Date.now();
  const responses: RtspResponse[] = [];
  let buf = Buffer.alloc(0);
  let lastAt = started;
  const result = await new Promise<RawResult>((resolve) => {
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ responses, closed, elapsedMs: (closed ? Date.now() : lastAt) - started });
    };
    const timer = setTimeout(() => done(false), o.waitMs ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const r = parseIncoming(buf);
        if (r.kind !== 'ok') break;
        buf = buf.subarray(r.consumed);
        if (r.value.type === 'response') {
          responses.push(r.value.response);
          lastAt = Date.now();
        }
      }
      if (o.expect !== undefined && responses.length >= o.expect) done(false);
    });
    socket.on('close', () => done(true));
    void (async () => {
      for (const part of Array.isArray(data) ? data : [data]) {
        if (socket.destroyed) return;
        socket.write(part);
        if (o.gapMs) await sleep(o.gapMs);
      }
    })();
  });
  socket.destroy();
  return result;
}

/**
 * A raw connection that sends requests one at a time and waits for each answer: for request sequences our client
 * would never write (a TAB in a URI) or that must continue from an answer (the Session of a SETUP). Interleaved
 * frames are counted, not kept.
 */
export class RawConnection {
  /** Bytes received, answers and interleaved media alike. */
  bytes = 0;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  private buf = Buffer.alloc(0);
  private waiting: Array<(r: RtspResponse) => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (this.error = err));
    socket.on('close', () => (this.closed = true));
  }

  static async connect(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new RawConnection(socket);
  }

  /** Send one request (see requestText) and resolve with its answer. */
  request(text: string): Promise<RtspResponse> {
    const answered = new Promise<RtspResponse>((resolve) => this.waiting.push(resolve));
    this.socket.write(text);
    return answered;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    // Requests are for before media flows (or after it stopped): while nobody waits for an answer, bytes are only
    // counted, so a player taking megabytes of RTP stays cheap.
    if (this.waiting.length === 0 && this.buf.length === 0) return;
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const r = parseIncoming(this.buf);
      if (r.kind !== 'ok') return;
      this.buf = this.buf.subarray(r.consumed);
      if (r.value.type === 'response') this.waiting.shift()?.(r.value.response);
      if (this.waiting.length === 0) {
        this.buf = Buffer.alloc(0);
        return;
      }
    }
  }
}

/** A complete request as text, with CRLF line ends. */
export function requestText(method: string, uri: string, headers: Array<[string, string]> = [], body = ''): string {
  const lines = [`${method} ${uri} RTSP/1.0`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (body.length > 0) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

/** Fail with how to install it when a GStreamer element is missing (Debian package names). */
export async function requireGstElement(element: string, debianPackage: string): Promise<void> {
  const r = await execa('gst-inspect-1.0', [element], { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) {
    throw new Error(`GStreamer element "${element}" is missing: install it with "apt-get install ${debianPackage}" (gst-inspect-1.0 ${element} exited ${r.exitCode})`);
  }
}

/**
 * gst-launch output without the one warning its own pipeline text causes: with `rtspsrc name=src src. ! …` links, the
 * links are made as rtspsrc adds pads, and depending on which track's pad comes first gst-launch may report at
 * no-more-pads that a delayed link failed, while every branch is linked and decoding (the tests check the decoded bytes).
 * Any other warning or error is left in, for the caller to fail on.
 */
export function gstLaunchProblems(output: string): string {
  return output.replace(
    /WARNING: from element [^\n]*GstRTSPSrc[^\n]*: Delayed linking failed\.\nAdditional debug info:\n[^\n]*gst_parse_no_more_pads[^\n]*\nfailed delayed linking some pad of GstRTSPSrc [^\n]*\n/g,
    '',
  );
}

/** A minimal H.264 SDP as ffmpeg announces it, for publishers written by hand. */
export function h264Sdp(): string {
  return [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=raw test publisher',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=video 0 RTP/AVP 96',
    'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==; profile-level-id=42C01E',
    'a=control:streamid=0',
    '',
  ].join('\r\n');
}

/** RTSP test clients a test file opens; `closeAll()` in afterEach closes them. */
export class ClientPool {
  private clients: RtspTestClient[] = [];

  async connect(url: string): Promise<RtspTestClient> {
    return this.add(await RtspTestClient.connect(url));
  }

  add(c: RtspTestClient): RtspTestClient {
    this.clients.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    const all = this.clients;
    this.clients = [];
    await Promise.all(all.map((c) => c.close()));
  }
}
