// Structured logs on pino: one JSON object per line, `{"level":"info","time":"…ISO…", …fields, "event":"…"}`, so
// `npm run server | jq` works and tests can read events; `--log-format pretty` makes them readable in a terminal
// (pino-pretty). Each component gets a child logger carrying its own fields (component, stream, session); nothing is
// global: every createLogger() is its own pino instance with its own destination.
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import pretty from 'pino-pretty';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** `json` (default): one JSON object per line; `pretty`: coloured lines for a terminal. Ignored with a sink. */
  format?: LogFormat;
  /** Where lines go (one JSON object each, no newline); stdout by default. Tests pass an array's push. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const now = options.now ?? (() => new Date());
  const root = pino(
    {
      level: options.level ?? 'info',
      // No pid or hostname: the fields are the event's own, as they always were.
      base: null,
      messageKey: 'event',
      // pino's own `err` serializer adds the stack and the class name; ours keeps { message, code } (jsonSafe).
      serializers: { err: (v: unknown) => v },
      timestamp: () => `,"time":"${now().toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => jsonSafe(fields),
      },
    },
    destination(options),
  );
  return wrap(Object.keys(base).length > 0 ? root.child(jsonSafe(base)) : root);
}

function destination(o: LoggerOptions): DestinationStream {
  const sink = o.sink;
  // A custom stream is written synchronously, one line per call: tests see each event as soon as it is logged.
  if (sink) return { write: (line: string) => sink(line.endsWith('\n') ? line.slice(0, -1) : line) };
  if (o.format === 'pretty') return pretty({ sync: true, messageKey: 'event', translateTime: 'SYS:HH:MM:ss.l', colorize: process.stdout.isTTY });
  // Synchronous writes keep the last lines (the shutdown, a start-up error) when the process exits right after.
  return pino.destination({ dest: 1, sync: true });
}

function wrap(p: Pino): Logger {
  return {
    debug: (event, fields) => p.debug(fields ?? {}, event),
    info: (event, fields) => p.info(fields ?? {}, event),
    warn: (event, fields) => p.warn(fields ?? {}, event),
    error: (event, fields) => p.error(fields ?? {}, event),
    child: (fields) => wrap(p.child(jsonSafe(fields))),
  };
}

/** A logger that drops everything: for tests that do not read logs. */
export const silentLogger: Logger = createLogger({ sink: () => {}, level: 'error' });

/** Errors as `{ message, code }` (no stack: a user sees sentences), bigints as strings; one level deep. */
function jsonSafe(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const [k, v] of Object.entries(fields)) {
    const safe = v instanceof Error ? { message: v.message, ...(hasCode(v) ? { code: v.code } : {}) } : typeof v === 'bigint' ? v.toString() : v;
    if (safe !== v) (out ??= { ...fields })[k] = safe;
  }
  return out ?? fields;
}

function hasCode(e: Error): e is Error & { code: unknown } {
  return 'code' in e;
}
