// The status page at /status: asks GET /api/status about once a second and shows the answer (view.ts). One request
// at a time: the next is asked a second after the previous one ended, so a slow server is never piled on.
import { parseStatus, STATUS_PATH } from '../../shared/status.ts';
import { StatusView } from './view.ts';

const INTERVAL_MS = 1000;
/** An answer later than this counts as none: the page says so rather than show figures that stopped moving. */
const TIMEOUT_MS = 3000;

/** Why the last request gave nothing to show, in a few words. */
function problemOf(err: unknown): string {
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${TIMEOUT_MS / 1000} s`;
  if (err instanceof TypeError) return 'no connection';
  return err instanceof Error ? err.message : String(err);
}

function boot(): void {
  const view = new StatusView(document);
  let lastOkAt: number | undefined;
  const refresh = async (): Promise<void> => {
    try {
      const res = await fetch(STATUS_PATH, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!res.ok) throw new Error(`the server answered HTTP ${res.status}`);
      const parsed = parseStatus(await res.json());
      if (!parsed.ok) throw new Error(`the server's answer is not understood: ${parsed.error}`);
      lastOkAt = Date.now();
      view.show(parsed.value, lastOkAt, location.hostname);
    } catch (err) {
      view.unreachable(Date.now(), lastOkAt, problemOf(err));
    }
    setTimeout(() => void refresh(), INTERVAL_MS);
  };
  void refresh();
}

boot();
