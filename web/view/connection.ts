// The viewer socket (shared/view-protocol.ts) from the page's side: opens ws(s)://HOST/ws/view?stream=NAME offering
// the protocol version (and the read credentials, when the page has them), checks every text message, hands binary
// messages on, and reconnects with backoff when the connection drops. An error from the server (wrong credentials, a
// codec the page cannot play, the player limit) ends it: the page shows the sentence, and reconnects only when asked.
import { parseViewServerMessage, authSubprotocol, VIEW_PATH, VIEW_SUBPROTOCOL, type ViewClientMessage, type ViewServerMessage } from '../../shared/view-protocol.ts';
import { reconnectDelay } from '../backoff.ts';

export interface ConnectionEvents {
  /** The socket is opening (first time, or again after a drop: `attempt` > 1). */
  connecting(attempt: number): void;
  message(m: ViewServerMessage): void;
  binary(bytes: Uint8Array): void;
  /** The server said what went wrong and closed; no reconnect follows. */
  failed(m: Extract<ViewServerMessage, { type: 'error' }>): void;
  /** A message the page cannot read: a server of another version. */
  broken(message: string): void;
}

export interface Credentials {
  username: string;
  password: string;
}

export class ViewConnection {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private failed = false;
  /** Bytes received, for the kbit/s figure. */
  bytes = 0;

  constructor(
    private readonly stream: string,
    private readonly events: ConnectionEvents,
    private credentials: Credentials | undefined,
  ) {}

  open(credentials = this.credentials): void {
    this.credentials = credentials;
    this.stopped = false;
    this.failed = false;
    this.clearTimer();
    this.attempt++;
    this.events.connecting(this.attempt);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const protocols = [VIEW_SUBPROTOCOL, ...(credentials ? [authSubprotocol(credentials.username, credentials.password)] : [])];
    const ws = new WebSocket(`${scheme}://${location.host}${VIEW_PATH}?stream=${encodeURIComponent(this.stream)}`, protocols);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (typeof e.data !== 'string') {
        this.bytes += e.data.byteLength;
        this.events.binary(new Uint8Array(e.data));
        return;
      }
      this.bytes += e.data.length;
      const m = parseViewServerMessage(e.data);
      if (!m.ok) {
        // Another version of the server: retrying would only fail the same way.
        this.failed = true;
        ws.close(1000, 'unreadable message');
        this.events.broken(`The server sent a message this page cannot read (${m.error}); reload the page.`);
        return;
      }
      if (m.value.type === 'hello') this.attempt = 0;
      if (m.value.type === 'error') {
        this.failed = true;
        this.events.failed(m.value);
        return;
      }
      this.events.message(m.value);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.stopped || this.failed) return;
      this.timer = setTimeout(() => this.open(), reconnectDelay(Math.max(1, this.attempt)));
    };
  }

  send(m: ViewClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  close(): void {
    this.stopped = true;
    this.clearTimer();
    this.ws?.close(1000, 'the viewer left');
    this.ws = undefined;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
