// Structured logs: one JSON object per line, so `npm run server | jq` works and tests can read events.
// Each component gets a child logger carrying its own fields (component, stream, session); nothing is global.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stdout by default. Tests pass an array's push. */
  sink?: (line: string) => void;
  now?: () => Date;
}

export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + '\n'));
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    sink(JSON.stringify({ time: now().toISOString(), level, event, ...base, ...fields }, jsonSafe));
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything: for tests that do not read logs. */
export const silentLogger: Logger = createLogger({ sink: () => {} , level: 'error' });

function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, ...(hasCode(value) ? { code: value.code } : {}) };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function hasCode(e: Error): e is Error & { code: unknown } {
  return 'code' in e;
}
