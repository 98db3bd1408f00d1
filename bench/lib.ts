// Benchmarks report ratios against a baseline measured in the same run: timings on shared
// machines are noisy, ratios much less so. No benchmark asserts anything.
import { performance } from 'node:perf_hooks'

export interface Row {
  name: string
  value: number // the measured thing (ms, bytes, ratio…)
  unit: string
  baseline?: { name: string; value: number }
  goal?: string // e.g. '<= 1.3'
}

export class Report {
  readonly rows: Row[] = []
  constructor(readonly section: string) {}
  add(row: Row): void {
    this.rows.push(row)
    const ratio = row.baseline ? row.value / row.baseline.value : undefined
    const base = row.baseline ? `  vs ${row.baseline.name} ${fmt(row.baseline.value)} ${row.unit}` : ''
    const r = ratio !== undefined ? `  ratio ${ratio.toFixed(2)}` : ''
    const goal = row.goal ? `  (goal ${row.goal})` : ''
    console.log(`  ${row.name.padEnd(48)} ${fmt(row.value).padStart(10)} ${row.unit}${base}${r}${goal}`)
  }
  /** A plain ratio row (value is already a ratio). */
  ratio(name: string, value: number, goal?: string, detail = ''): void {
    this.rows.push({ name, value, unit: 'x', goal })
    console.log(`  ${name.padEnd(48)} ratio ${value.toFixed(2)}${goal ? `  (goal ${goal})` : ''}${detail ? `  ${detail}` : ''}`)
  }
}

/**
 * The environment of bin/polykey children: the bench passphrase, the node (when given), and no
 * NODE_EXTRA_CA_CERTS — when set (some CI machines) every node process parses those certificates
 * at start-up (tens of ms), though polykey makes no TLS connection.
 */
export function polykeyEnv(passphrase: string, node?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, POLYKEY_PASSPHRASE: passphrase }
  delete env.NODE_EXTRA_CA_CERTS
  delete env.POLYKEY_NODE
  if (node !== undefined) env.POLYKEY_NODE = node
  return env
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)
}

/** Median wall time (ms) of fn over `runs` runs after `warmup` runs. */
export async function time(fn: () => unknown | Promise<unknown>, runs = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn()
  const xs: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await fn()
    xs.push(performance.now() - t0)
  }
  xs.sort((a, b) => a - b)
  return xs[Math.floor(xs.length / 2)]
}

/** Interleave a and b runs (ABAB…) so that machine noise hits both alike; returns medians. */
export async function compare(a: () => unknown, b: () => unknown, runs = 7): Promise<{ a: number; b: number; ratio: number }> {
  await a()
  await b()
  const xa: number[] = []
  const xb: number[] = []
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now()
    await a()
    xa.push(performance.now() - t0)
    t0 = performance.now()
    await b()
    xb.push(performance.now() - t0)
  }
  const med = (xs: number[]) => xs.sort((p, q) => p - q)[Math.floor(xs.length / 2)]
  return { a: med(xa), b: med(xb), ratio: med(xa) / med(xb) }
}
