// npx tsx bench/heap-diff.ts A.heapsnapshot B.heapsnapshot [--top 25]
//
// What grew between two V8 heap snapshots of one process (bench:soak --heap-snapshots takes them): objects by kind
// and constructor name (count and self size in each, and the difference), the objects of B that did not exist in A
// (V8 keeps an object's snapshot id for the life of the process, so these were allocated after A and are still
// alive at B), and, for the largest groups of those, the chain of objects that keeps a few of them alive.
// Prints one JSON object on stdout and a table on stderr.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Group {
  count: number;
  size: number;
}

class Snapshot {
  readonly nodeFields: number;
  readonly edgeFields: number;
  private readonly f: { type: number; name: number; id: number; selfSize: number; edgeCount: number };
  private readonly e: { type: number; name: number; to: number };
  readonly nodeTypes: string[];
  readonly edgeTypes: string[];
  /** Index (in nodes) of each node's first edge (in edges). */
  private readonly firstEdge: Uint32Array;
  private retainersCsr: { start: Uint32Array; from: Uint32Array; edge: Uint32Array } | undefined;

  constructor(readonly raw: RawSnapshot) {
    const m = raw.snapshot.meta;
    this.nodeFields = m.node_fields.length;
    this.edgeFields = m.edge_fields.length;
    const at = (list: string[], name: string) => {
      const i = list.indexOf(name);
      if (i < 0) throw new Error(`heap snapshot without a "${name}" field`);
      return i;
    };
    this.f = { type: at(m.node_fields, 'type'), name: at(m.node_fields, 'name'), id: at(m.node_fields, 'id'), selfSize: at(m.node_fields, 'self_size'), edgeCount: at(m.node_fields, 'edge_count') };
    this.e = { type: at(m.edge_fields, 'type'), name: at(m.edge_fields, 'name_or_index'), to: at(m.edge_fields, 'to_node') };
    this.nodeTypes = m.node_types[0];
    this.edgeTypes = m.edge_types[0];
    const n = this.count;
    this.firstEdge = new Uint32Array(n + 1);
    for (let i = 0, edge = 0; i < n; i++) {
      this.firstEdge[i] = edge;
      edge += raw.nodes[i * this.nodeFields + this.f.edgeCount]! * this.edgeFields;
    }
    this.firstEdge[n] = raw.edges.length;
  }

  static read(file: string): Snapshot {
    return new Snapshot(JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot);
  }

  get count(): number {
    return this.raw.nodes.length / this.nodeFields;
  }

  id(i: number): number {
    return this.raw.nodes[i * this.nodeFields + this.f.id]!;
  }

  selfSize(i: number): number {
    return this.raw.nodes[i * this.nodeFields + this.f.selfSize]!;
  }

  /** "kind:name", e.g. "object:RtspSession", "closure:onData", "string", "array:(object elements)". */
  key(i: number): string {
    const type = this.nodeTypes[this.raw.nodes[i * this.nodeFields + this.f.type]!] ?? '?';
    // Strings and numbers are named by their value: one group per kind, not per value.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' || type === 'heap number') return type;
    const name = this.raw.strings[this.raw.nodes[i * this.nodeFields + this.f.name]!] ?? '';
    return `${type}:${name.length > 80 ? `${name.slice(0, 80)}…` : name}`;
  }

  groups(filter: (i: number) => boolean = () => true): Map<string, Group> {
    const out = new Map<string, Group>();
    for (let i = 0; i < this.count; i++) {
      if (!filter(i)) continue;
      const k = this.key(i);
      const g = out.get(k) ?? { count: 0, size: 0 };
      g.count++;
      g.size += this.selfSize(i);
      out.set(k, g);
    }
    return out;
  }

  ids(): Set<number> {
    const s = new Set<number>();
    for (let i = 0; i < this.count; i++) s.add(this.id(i));
    return s;
  }

  /** Who points at node `i` (strong edges only), as [from node, "edge label"]. */
  retainers(i: number): Array<[number, string]> {
    const r = (this.retainersCsr ??= this.buildRetainers());
    const out: Array<[number, string]> = [];
    for (let k = r.start[i]!; k < r.start[i + 1]!; k++) out.push([r.from[k]!, this.edgeLabel(r.edge[k]!)]);
    return out;
  }

  private edgeLabel(e: number): string {
    const type = this.edgeTypes[this.raw.edges[e + this.e.type]!] ?? '?';
    const v = this.raw.edges[e + this.e.name]!;
    return type === 'element' || type === 'hidden' ? `[${v}]` : type === 'context' ? `(context ${this.raw.strings[v]})` : (this.raw.strings[v] ?? String(v));
  }

  private buildRetainers(): { start: Uint32Array; from: Uint32Array; edge: Uint32Array } {
    const n = this.count;
    const weak = this.edgeTypes.indexOf('weak');
    const counts = new Uint32Array(n + 1);
    const { edges } = this.raw;
    for (let e = 0; e < edges.length; e += this.edgeFields) {
      if (edges[e + this.e.type] === weak) continue;
      counts[edges[e + this.e.to]! / this.nodeFields]!++;
    }
    const start = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) start[i + 1] = start[i]! + counts[i]!;
    const fill = start.slice();
    const from = new Uint32Array(start[n]!);
    const edge = new Uint32Array(start[n]!);
    for (let i = 0; i < n; i++) {
      for (let e = this.firstEdge[i]!; e < this.firstEdge[i + 1]!; e += this.edgeFields) {
        if (edges[e + this.e.type] === weak) continue;
        const to = edges[e + this.e.to]! / this.nodeFields;
        const k = fill[to]!++;
        from[k] = i;
        edge[k] = e;
      }
    }
    return { start, from, edge };
  }
}

/** A chain of retainers from node `i` towards the roots, skipping V8's internal bookkeeping where it can. */
function retainerPath(s: Snapshot, i: number, depth: number): string[] {
  const path: string[] = [];
  const seen = new Set<number>([i]);
  let at = i;
  for (let d = 0; d < depth; d++) {
    const rs = s.retainers(at).filter(([from]) => !seen.has(from));
    if (rs.length === 0) break;
    // Prefer a retainer that is a JS object or closure (what the code names) over system and array internals.
    const pick = rs.find(([from]) => /^(object|closure):/.test(s.key(from)) && !s.key(from).startsWith('object:(')) ?? rs[0]!;
    path.push(`${pick[1]} ← ${s.key(pick[0])}`);
    seen.add(pick[0]);
    at = pick[0];
  }
  return path;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
if (positionals.length !== 2) {
  process.stderr.write('usage: npx tsx bench/heap-diff.ts A.heapsnapshot B.heapsnapshot [--top 25]\n');
  process.exit(2);
}
const top = Number(values.top);
const [fileA, fileB] = positionals as [string, string];
process.stderr.write(`reading ${fileA}...\n`);
const a = Snapshot.read(fileA);
const ga = a.groups();
const idsA = a.ids();
const totalA = { nodes: a.count, size: [...ga.values()].reduce((n, g) => n + g.size, 0) };
process.stderr.write(`reading ${fileB}...\n`);
const b = Snapshot.read(fileB);
const gb = b.groups();
const totalB = { nodes: b.count, size: [...gb.values()].reduce((n, g) => n + g.size, 0) };

const diff = [...new Set([...ga.keys(), ...gb.keys()])].map((k) => {
  const x = ga.get(k) ?? { count: 0, size: 0 };
  const y = gb.get(k) ?? { count: 0, size: 0 };
  return { key: k, countA: x.count, countB: y.count, countDelta: y.count - x.count, sizeA: x.size, sizeB: y.size, sizeDelta: y.size - x.size };
});
const bySize = [...diff].sort((p, q) => q.sizeDelta - p.sizeDelta).slice(0, top);
const byCount = [...diff].sort((p, q) => q.countDelta - p.countDelta).slice(0, top);

// Objects alive in B that were allocated after A.
const isNew = (i: number) => !idsA.has(b.id(i));
const fresh = [...b.groups(isNew).entries()].map(([key, g]) => ({ key, ...g })).sort((p, q) => q.size - p.size);
const freshTotal = fresh.reduce((n, g) => ({ count: n.count + g.count, size: n.size + g.size }), { count: 0, size: 0 });
const retainedBy = fresh.slice(0, 8).map((g) => {
  const sample: number[] = [];
  for (let i = 0; i < b.count && sample.length < 3; i++) if (isNew(i) && b.key(i) === g.key) sample.push(i);
  return { key: g.key, count: g.count, size: g.size, paths: sample.map((i) => retainerPath(b, i, 8)) };
});

const result = {
  a: { file: fileA, ...totalA },
  b: { file: fileB, ...totalB },
  growth: { nodes: totalB.nodes - totalA.nodes, size: totalB.size - totalA.size },
  bySizeDelta: bySize,
  byCountDelta: byCount,
  newInB: { ...freshTotal, groups: fresh.slice(0, top) },
  newInBRetainedBy: retainedBy,
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
process.stderr.write(`\n  A: ${totalA.nodes} objects, ${kb(totalA.size)}; B: ${totalB.nodes} objects, ${kb(totalB.size)} (${totalB.nodes - totalA.nodes >= 0 ? '+' : ''}${totalB.nodes - totalA.nodes}, ${kb(totalB.size - totalA.size)})\n`);
process.stderr.write(`  grew most (self size):\n`);
for (const d of bySize.slice(0, 15)) process.stderr.write(`    ${d.key.padEnd(50)} ${String(d.countA).padStart(8)} → ${String(d.countB).padEnd(8)} ${kb(d.sizeDelta).padStart(12)}\n`);
process.stderr.write(`  allocated after A and alive at B: ${freshTotal.count} objects, ${kb(freshTotal.size)}\n`);
for (const g of fresh.slice(0, 15)) process.stderr.write(`    ${g.key.padEnd(50)} ${String(g.count).padStart(8)} ${kb(g.size).padStart(12)}\n`);
for (const r of retainedBy) {
  process.stderr.write(`  ${r.key} (${r.count} new) kept by:\n`);
  for (const p of r.paths) process.stderr.write(`    ${p.join('  ')}\n`);
}
