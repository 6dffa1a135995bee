// A throwaway nginx with the RTMP module on 127.0.0.1, for egress tests against a real RTMP server:
// the same module many self-hosted setups use, and an ingest that, like YouTube/Twitch, takes FLV
// with H.264 + AAC only. Config, pid and logs live in a temp dir removed on stop().
import { execa } from 'execa';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const INSTALL_HINT = 'install nginx with the RTMP module: apt-get install -y nginx-light libnginx-mod-rtmp';

export interface NginxRtmp {
  port: number;
  pid: number;
  /** rtmp://127.0.0.1:PORT/live/NAME */
  url(name: string): string;
  /** nginx's error log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export function nginxPath(): string {
  for (const p of [process.env['NGINX'], '/usr/sbin/nginx', '/usr/bin/nginx']) {
    if (!p) continue;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new Error(`nginx not found; ${INSTALL_HINT}`);
}

/** A TCP port that was free a moment ago on 127.0.0.1 (nginx cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Start nginx-rtmp on a free port, or on `port` (e.g. to bring a stopped server back at the same address). */
export async function startNginxRtmp(o: { port?: number } = {}): Promise<NginxRtmp> {
  const nginx = nginxPath();
  try {
    accessSync(NGINX_RTMP_MODULE, constants.R_OK);
  } catch {
    throw new Error(`${NGINX_RTMP_MODULE} missing; ${INSTALL_HINT}`);
  }
  // The port is picked, freed, then bound by nginx: retry if someone else took it meanwhile.
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = o.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'relaycast-nginx-'));
    const conf = join(dir, 'nginx.conf');
    const errorLog = join(dir, 'error.log');
    writeFileSync(
      conf,
      [
        `load_module ${NGINX_RTMP_MODULE};`,
        // Foreground, single process: the PID we spawn is the server, and killing it is enough.
        'daemon off;',
        'master_process off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${errorLog} info;`,
        'events { worker_connections 128; }',
        'rtmp {',
        '  server {',
        `    listen 127.0.0.1:${port};`,
        '    chunk_size 4096;',
        '    application live { live on; record off; }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    // -e: the error log before the config is read (otherwise /var/log/nginx/error.log).
    const proc = execa(nginx, ['-c', conf, '-p', dir, '-e', errorLog], {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      cleanup: true,
      buffer: true,
    });
    const pid = proc.pid;
    let exited = false;
    void proc.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 5_000;
    while (!exited && Date.now() < deadline && !(await canConnect(port))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const readLog = (): string => {
      try {
        return readFileSync(errorLog, 'utf8');
      } catch {
        return '';
      }
    };
    if (exited || pid === undefined || !(await canConnect(port))) {
      if (!exited && pid !== undefined) process.kill(pid, 'SIGKILL');
      const r = await proc;
      lastError = `${String(r.stderr)}\n${readLog()}`.trim();
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    let stopping: Promise<void> | undefined;
    return {
      port,
      pid,
      url: (name) => `rtmp://127.0.0.1:${port}/live/${name}`,
      log: readLog,
      stop: () =>
        (stopping ??= (async () => {
          if (!exited) {
            process.kill(pid, 'SIGTERM');
            const t = setTimeout(() => {
              if (!exited) process.kill(pid, 'SIGKILL');
            }, 3_000);
            await proc;
            clearTimeout(t);
          }
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  }
  throw new Error(`nginx-rtmp did not start: ${lastError.slice(0, 1000)}`);
}
