// `make bench`: every bench/*.bench.ts module, in name order (or the ones named on the command line).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Report } from './lib.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)
const mods = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.js') && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort()
for (const f of mods) {
  const mod = (await import(path.join(here, f))) as { title: string; run(r: Report): Promise<void> }
  console.log(`\n== ${mod.title} (${f.replace('.bench.js', '')})`)
  const r = new Report(mod.title)
  try {
    await mod.run(r)
  } catch (err) {
    console.log(`  FAILED: ${(err as Error).stack}`)
    process.exitCode = 1
  }
}
