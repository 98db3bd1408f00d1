// A real X server for the clipboard tests: Xvfb on a display it picks itself (-displayfd), and
// xclip to look at the clipboard as a user's other programs would. Stopped when the test ends.
import fs from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'

export const NO_X: string | false =
  spawnSync('sh', ['-c', 'command -v Xvfb && command -v xclip'], { stdio: 'ignore' }).status === 0
    ? false
    : 'Xvfb or xclip missing (apt-get install xvfb xclip): clipboard tests SKIPPED'
if (NO_X) console.warn(`\n*** WARNING: ${NO_X} ***\n`)

export async function startXvfb(t: { after(fn: () => unknown): void }): Promise<string> {
  const x = spawn('Xvfb', ['-displayfd', '1', '-nolisten', 'tcp', '-screen', '0', '320x240x8'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.after(() => {
    x.kill('SIGTERM')
  })
  const display = await new Promise<string>((resolve, reject) => {
    let got = ''
    const timer = setTimeout(() => reject(new Error('Xvfb did not start')), 20_000)
    x.stdout!.on('data', (d: Buffer) => {
      got += d.toString()
      if (got.includes('\n')) {
        clearTimeout(timer)
        resolve(':' + got.trim())
      }
    })
    x.on('exit', (c) => reject(new Error(`Xvfb exited (${c})`)))
  })
  // every xclip that still serves a selection on this display goes with it
  t.after(() => {
    for (const pid of pidsOnDisplay(display)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  })
  return display
}

/** What the clipboard holds now (null when nobody owns it). */
export function clipboard(display: string): string | null {
  const r = spawnSync('xclip', ['-selection', 'clipboard', '-out'], { env: { ...process.env, DISPLAY: display }, encoding: 'utf8', timeout: 10_000 })
  return r.status === 0 ? r.stdout : null
}

export function setClipboard(display: string, text: string): void {
  const r = spawnSync('xclip', ['-selection', 'clipboard', '-in'], { env: { ...process.env, DISPLAY: display }, input: text, stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 })
  if (r.status !== 0) throw new Error('xclip -in failed')
}

/** Processes whose environment has DISPLAY=display (the clipboard helpers and xclips of one test). */
export function pidsOnDisplay(display: string): number[] {
  const out: number[] = []
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    try {
      const env = fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0')
      if (env.includes(`DISPLAY=${display}`)) out.push(Number(p))
    } catch {
      /* gone, or not ours */
    }
  }
  return out
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ')
  } catch {
    return ''
  }
}

/** The clipboard helper of this display (node …/clip-helper.js), if one is running. */
export function helperPids(display: string): number[] {
  return pidsOnDisplay(display).filter((p) => cmdline(p).includes('clip-helper.js'))
}
