// Refusals and authentication failures, counted from the events the servers already log for them: every refusal has
// one log line with its reason, so counting those lines is counting refusals, with no second bookkeeping in each
// server. The tap wraps the relay's logger (and every child made from it); it sees each call before the level filter.
import { Counter, type Registry } from 'prom-client';
import type { LogFields, Logger } from '../log.ts';

type Protocol = 'rtsp' | 'http' | 'websocket' | 'viewer';

/** What an event counts as, and the field its reason is in. */
interface Rule {
  protocol: Protocol;
  kind: 'refused' | 'auth-failure';
  reasonField?: string;
}

/**
 * The events, by name, that mean a refusal or a failed authentication. Names are the servers' own (log.ts keeps them
 * stable); a refusal that logs none of these is not counted, so a new refusal needs its line here.
 */
const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  // servers/rtsp: connections over the caps (one debug line each; the warn line is a periodic summary), sessions over
  // the per-connection and per-address caps, players over --max-clients / --max-bandwidth, publishers refused.
  ['connection-refused', { protocol: 'rtsp', kind: 'refused', reasonField: 'reason' }],
  ['session-refused', { protocol: 'rtsp', kind: 'refused', reasonField: 'reason' }],
  ['player-refused', { protocol: 'rtsp', kind: 'refused', reasonField: 'reason' }],
  ['publish-refused', { protocol: 'rtsp', kind: 'refused', reasonField: 'reason' }],
  ['auth-failed', { protocol: 'rtsp', kind: 'auth-failure' }],
  // servers/http: /NAME.mp4 players refused (limits carry a reason, the others their status), wrong read credentials.
  ['http.player_refused', { protocol: 'http', kind: 'refused', reasonField: 'reason' }],
  ['http.auth_failed', { protocol: 'http', kind: 'auth-failure' }],
  // servers/http/api.ts: a wrong admin token on the DELETE routes.
  ['api.auth_failed', { protocol: 'http', kind: 'auth-failure' }],
  // servers/ws-publish: browser publishers refused after hello (code), WebSocket upgrades denied (status).
  ['publisher-refused', { protocol: 'websocket', kind: 'refused', reasonField: 'code' }],
  ['ws-denied', { protocol: 'websocket', kind: 'refused' }],
  // servers/http/viewer.ts: viewer sockets refused after the upgrade (code: limit, or unauthorized credentials).
  ['viewer.refused', { protocol: 'viewer', kind: 'refused', reasonField: 'code' }],
]);

/** A refusal's reason as a label: a short token from the event, or its status; never free text (cardinality). */
function reasonOf(rule: Rule, fields: LogFields | undefined): string {
  const r = rule.reasonField !== undefined ? fields?.[rule.reasonField] : undefined;
  if (typeof r === 'string' && /^[a-z0-9-]{1,40}$/.test(r)) return r;
  const status = fields?.['status'];
  return typeof status === 'number' ? `status-${status}` : 'other';
}

export class EventCounters {
  private readonly refused: Counter<'protocol' | 'reason'>;
  private readonly authFailures: Counter<'protocol'>;

  constructor(registry: Registry) {
    this.refused = new Counter({
      name: 'relaycast_requests_refused_total',
      help: 'Connections, sessions, players and publishers refused, by protocol and reason (limits, names in use, bad requests).',
      labelNames: ['protocol', 'reason'],
      registers: [registry],
    });
    this.authFailures = new Counter({
      name: 'relaycast_auth_failures_total',
      help: 'Wrong credentials (RTSP Digest/Basic, HTTP Basic on /NAME.mp4, the admin token, the WebSocket publish token, the viewer page).',
      labelNames: ['protocol'],
      registers: [registry],
    });
    // Present from the start at 0, so rate() works from the first scrape.
    for (const protocol of ['rtsp', 'http', 'websocket', 'viewer'] as const) this.authFailures.inc({ protocol }, 0);
  }

  /** The same logger, counting the events of RULES as they are logged. */
  tap(logger: Logger): Logger {
    const see = (event: string, fields: LogFields | undefined): void => {
      const rule = RULES.get(event);
      if (!rule) return;
      // A wrong publish token is a failed authentication, not a refusal like the others.
      if (rule.protocol === 'websocket' && fields?.['code'] === 'bad-token') this.authFailures.inc({ protocol: 'websocket' });
      else if (rule.protocol === 'viewer' && fields?.['code'] === 'unauthorized') this.authFailures.inc({ protocol: 'viewer' });
      else if (rule.kind === 'auth-failure') this.authFailures.inc({ protocol: rule.protocol });
      else this.refused.inc({ protocol: rule.protocol, reason: reasonOf(rule, fields) });
    };
    const wrap = (l: Logger): Logger => ({
      debug: (e, f) => (see(e, f), l.debug(e, f)),
      info: (e, f) => (see(e, f), l.info(e, f)),
      warn: (e, f) => (see(e, f), l.warn(e, f)),
      error: (e, f) => (see(e, f), l.error(e, f)),
      child: (fields) => wrap(l.child(fields)),
    });
    return wrap(logger);
  }
}
