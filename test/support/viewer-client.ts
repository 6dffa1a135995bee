// A Node stand-in for the viewer page, for integration tests: opens ws://HOST:PORT/ws/view?stream=NAME (or any path
// and subprotocols), checks each text message with the page's parser and each binary one with the page's own
// demuxer (web/view/demux.ts, which uses the shared fMP4 reader), and can stop reading its socket as a stalled tab does.
import WebSocket from 'ws';
import { parseViewServerMessage, VIEW_PATH, VIEW_SUBPROTOCOL, type ViewServerMessage } from '../../shared/view-protocol.ts';
import { Demuxer } from '../../web/view/demux.ts';

export interface ViewerClientOptions {
  port: number;
  stream?: string;
  /** The whole request target instead of /ws/view?stream=NAME. */
  path?: string;
  /** Default: the page's version. */
  protocols?: string[];
  headers?: Record<string, string>;
}

export class ViewerClient {
  readonly socket: WebSocket;
  readonly messages: ViewServerMessage[] = [];
  /** Problems: unreadable messages, fragments the demuxer refused. */
  readonly problems: string[] = [];
  inits = 0;
  videoChunks = 0;
  audioChunks = 0;
  bytes = 0;
  /** The first video chunk after each init segment is a keyframe. */
  keyframeFirst = true;
  readonly opened: Promise<{ ok: true; protocol: string } | { ok: false; status: number; body: string }>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly demuxer = new Demuxer();
  private videoSinceInit = 0;

  constructor(o: ViewerClientOptions) {
    const target = o.path ?? `${VIEW_PATH}?stream=${encodeURIComponent(o.stream ?? '')}`;
    this.socket = new WebSocket(`ws://127.0.0.1:${o.port}${target}`, o.protocols ?? [VIEW_SUBPROTOCOL], { perMessageDeflate: false, headers: o.headers ?? {}, handshakeTimeout: 5000 });
    this.socket.on('error', () => {});
    this.opened = new Promise((resolve) => {
      this.socket.once('open', () => resolve({ ok: true, protocol: this.socket.protocol }));
      this.socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve({ ok: false, status: res.statusCode ?? 0, body });
          this.socket.terminate();
        });
      });
      this.socket.once('close', () => resolve({ ok: false, status: 0, body: '' }));
    });
    this.closed = new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    this.socket.on('message', (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      this.bytes += bytes.length;
      if (!isBinary) {
        const m = parseViewServerMessage(bytes.toString('utf8'));
        if (m.ok) this.messages.push(m.value);
        else this.problems.push(m.error);
        return;
      }
      const d = this.demuxer.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
      if (d.kind === 'error') this.problems.push(d.message);
      else if (d.kind === 'init') {
        this.inits++;
        this.videoSinceInit = 0;
      } else {
        for (const c of d.chunks) {
          if (c.kind === 'audio') {
            this.audioChunks++;
            continue;
          }
          if (this.videoSinceInit++ === 0 && !c.key) this.keyframeFirst = false;
          this.videoChunks++;
        }
      }
    });
  }

  /** The message types received, in order. */
  types(): string[] {
    return this.messages.map((m) => m.type);
  }

  /** Stop reading the socket (the kernel buffers fill; the server's backlog grows). */
  pause(): void {
    this.socket.pause();
  }

  send(text: string | Buffer): void {
    this.socket.send(text);
  }

  async until(pred: (c: ViewerClient) => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > end) throw new Error(`viewer: timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.types())} ${JSON.stringify(this.problems)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.socket.terminate();
  }
}
