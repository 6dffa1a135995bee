// Loaded into the relay process by bench:soak, before server/main.ts (`node --import tsx --import <this> server/main.ts`),
// so the soak measures the relay a user runs, unchanged, and still sees inside it:
//   - every second, process.memoryUsage() (V8 heap used/total, external, ArrayBuffers, RSS) and V8's resident bytes
//     (all spaces and each space) are written to
//     $RELAYCAST_PROBE_FILE (write to a temp name, then rename: a reader never sees half a line);
//   - on SIGUSR2, a V8 heap snapshot is written to $RELAYCAST_PROBE_SNAPSHOT_DIR/relay-N.heapsnapshot (same rename).
// Why not the alternatives: --inspect would need a debugger client and keeps the inspector on; running the relay in a
// worker of the bench would put the bench's 55 readers in the same RSS; the relay logs no memory figures.
// This file is a preload script, not a module of the relay: its timer is unref'd and it holds no state of the relay.
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';

const file = process.env['RELAYCAST_PROBE_FILE'];
const snapshotDir = process.env['RELAYCAST_PROBE_SNAPSHOT_DIR'];

export interface ProbeSample {
  /** Date.now() when sampled. */
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Bytes malloc'd by V8 itself (not the JS heap). */
  mallocedMemory: number;
  /** Resident bytes of V8's heap, all spaces (total_physical_size). */
  v8Physical: number;
  /** Resident bytes of each V8 heap space (new_space, old_space, code_space, large_object_space, ...). */
  spaces: Record<string, number>;
}

if (file) {
  const write = () => {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((x) => [x.space_name, x.physical_space_size]));
    const sample: ProbeSample = { at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, mallocedMemory: h.malloced_memory, v8Physical: h.total_physical_size, spaces };
    writeFileSync(`${file}.tmp`, JSON.stringify(sample));
    renameSync(`${file}.tmp`, file);
  };
  write();
  setInterval(write, 1000).unref();
}

if (snapshotDir) {
  let n = 0;
  process.on('SIGUSR2', () => {
    const final = path.join(snapshotDir, `relay-${++n}.heapsnapshot`);
    // Synchronous: the relay stops for the write (a second or two for a heap of tens of MB); a snapshot is taken after a full GC.
    v8.writeHeapSnapshot(`${final}.partial`);
    renameSync(`${final}.partial`, final);
  });
}
