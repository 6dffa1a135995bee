// The WebSocket fuzzer's sockets: each case on its own connection to /ws/publish (with the page's Origin, from
// loopback, so nothing is refused before the protocol is reached). It sends the case's messages, then waits for the
// relay to close the socket; one still open after a quiet period was accepted (or is waiting for more), and is closed
// by us with 1000, the page's Stop.
import { isUtf8 } from 'node:buffer';
import { CLOSE } from '../shared/protocol.ts';
import { openPublishSocket } from '../test/support/ws-publisher.ts';
import { hugeMessage, wsCase, type WsMaterial } from './fuzz-ws-inputs.ts';
import { Rng } from './random.ts';

export const DOCUMENTED_CLOSE_CODES: readonly number[] = Object.values(CLOSE);

export interface WsFuzzOptions {
  httpPort: number;
  material: WsMaterial;
  requests: number;
  seed: number;
  concurrency?: number;
  only?: number[];
  /** How long after the last message a socket the relay keeps open counts as accepted. */
  quietMs?: number;
  onProgress?: (done: number) => void;
}

export interface WsFuzzResult {
  cases: number;
  /** Closes the relay initiated, by code (1006: the connection dropped without a close frame). */
  byCloseCode: Record<string, number>;
  /**
   * The same, for the cases that sent a text message that is not UTF-8 (RFC 6455 §8.1: the endpoint must fail the
   * connection; the ws library does so with 1007 before the relay's code sees the message).
   */
  byCloseCodeInvalidUtf8Text: Record<string, number>;
  /** Sockets the relay kept open (the publisher was accepted or is still expected to send): closed by us with 1000. */
  leftOpen: number;
  /** Upgrades refused with an HTTP status instead of a WebSocket. */
  upgradeRefused: Record<string, number>;
  /** The relay's text answers: accepted, refused:<code>, error:<code>. */
  answers: Record<string, number>;
  byKind: Record<string, number>;
  /** Closes with a code shared/protocol.ts CLOSE does not list, or without a reason sentence. */
  undocumented: Array<{ case: number; code: number; reason: string; invalidUtf8Text: boolean }>;
  unexplained: Array<{ case: number; code: number }>;
  examples: Record<string, number[]>;
  bytesSent: number;
  ms: number;
}

export async function fuzzWs(o: WsFuzzOptions): Promise<WsFuzzResult> {
  const started = performance.now();
  const result: WsFuzzResult = { cases: 0, byCloseCode: {}, byCloseCodeInvalidUtf8Text: {}, leftOpen: 0, upgradeRefused: {}, answers: {}, byKind: {}, undocumented: [], unexplained: [], examples: {}, bytesSent: 0, ms: 0 };
  let huge: Uint8Array | undefined;
  const hugeOnce = () => (huge ??= hugeMessage());
  const indices = o.only ?? Array.from({ length: o.requests }, (_, i) => i);
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const index = indices[next++]!;
      const c = wsCase(Rng.forCase(o.seed, 'ws', index), index, o.material, hugeOnce);
      const r = await runCase(c.messages, o.httpPort, o.quietMs ?? 150);
      result.cases++;
      result.bytesSent += r.bytesSent;
      result.byKind[c.kind] = (result.byKind[c.kind] ?? 0) + 1;
      for (const a of r.answers) result.answers[a] = (result.answers[a] ?? 0) + 1;
      if (r.kind === 'upgrade-refused') {
        const k = String(r.httpStatus ?? 'none');
        result.upgradeRefused[k] = (result.upgradeRefused[k] ?? 0) + 1;
        example(result, `upgrade-${k}`, index);
      } else if (r.kind === 'left-open') {
        result.leftOpen++;
      } else {
        const k = String(r.code);
        const invalidUtf8Text = c.messages.some((m) => !m.binary && typeof m.data !== 'string' && !isUtf8(m.data));
        const tally = invalidUtf8Text ? result.byCloseCodeInvalidUtf8Text : result.byCloseCode;
        tally[k] = (tally[k] ?? 0) + 1;
        if (!DOCUMENTED_CLOSE_CODES.includes(r.code)) {
          if (result.undocumented.length < 50) result.undocumented.push({ case: index, code: r.code, reason: r.reason.slice(0, 123), invalidUtf8Text });
          example(result, `close-${k}`, index);
        } else if (r.reason.length === 0) {
          if (result.unexplained.length < 50) result.unexplained.push({ case: index, code: r.code });
        }
        if (r.code === CLOSE.serverError) example(result, 'close-1011', index);
      }
      o.onProgress?.(result.cases);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 16, indices.length) }, worker));
  result.ms = Math.round(performance.now() - started);
  return result;
}

function example(r: WsFuzzResult, key: string, index: number): void {
  const list = (r.examples[key] ??= []);
  if (list.length < 10) list.push(index);
}

type CaseResult = { answers: string[]; bytesSent: number } & (
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'left-open' }
  | { kind: 'upgrade-refused'; httpStatus: number | undefined }
);

async function runCase(messages: ReadonlyArray<{ data: Uint8Array | string; binary: boolean }>, port: number, quietMs: number): Promise<CaseResult> {
  const s = openPublishSocket(port);
  let closedBy: { code: number; reason: string } | undefined;
  void s.closed.then((c) => (closedBy = c));
  const answers = () =>
    s.messages.map((m) => {
      const o = typeof m === 'object' && m !== null ? (m as Record<string, unknown>) : {};
      return o['type'] === 'refused' || o['type'] === 'error' ? `${String(o['type'])}:${String(o['code'])}` : String(o['type'] ?? 'non-json');
    }).filter((a) => a !== 'stats');
  const opened = await s.opened;
  if (!opened.ok) {
    await s.closed;
    return { kind: 'upgrade-refused', httpStatus: opened.httpStatus, answers: [], bytesSent: 0 };
  }
  let bytesSent = 0;
  for (const m of messages) {
    if (closedBy || s.socket.readyState !== s.socket.OPEN) break;
    await new Promise<void>((resolve) => s.socket.send(m.data, { binary: m.binary }, () => resolve()));
    bytesSent += typeof m.data === 'string' ? Buffer.byteLength(m.data) : m.data.length;
  }
  const quiet = new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), quietMs));
  const first = await Promise.race([s.closed, quiet]);
  if (first !== 'quiet') return { kind: 'closed', code: first.code, reason: first.reason, answers: answers(), bytesSent };
  // Still open: the relay accepted what it got (or waits for more). Stop like the page does.
  s.socket.close(1000, 'fuzz case done');
  const t = setTimeout(() => s.socket.terminate(), 2000);
  await s.closed;
  clearTimeout(t);
  return { kind: 'left-open', answers: answers(), bytesSent };
}
