// A real pseudo-terminal for tests of prompts: python3's pty module runs the command on a new
// terminal (its controlling tty, so /dev/tty prompts work) and answers each expected prompt.
import { spawn } from 'node:child_process'

const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.environ.clear(); os.environ.update(spec["env"])
    os.chdir(spec["cwd"])
    os.execvp(spec["argv"][0], spec["argv"])
out = b""
pos = 0
def read_until(pattern, timeout):
    global out, pos
    end = time.time() + timeout
    rx = re.compile(pattern.encode())
    while time.time() < end:
        m = rx.search(out, pos)
        if m:
            pos = m.end()
            return True
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try: chunk = os.read(fd, 4096)
            except OSError: return False
            if not chunk: return False
            out += chunk
    return False
ok = True
for step in spec["steps"]:
    if not read_until(step[0], spec["timeout"]):
        ok = False
        break
    time.sleep(0.05)
    os.write(fd, step[1].encode())
status = None
end = time.time() + spec["timeout"]
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try: chunk = os.read(fd, 4096)
        except OSError: break
        if not chunk: break
        out += chunk
    else:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
if status is None:
    try: os.kill(pid, 9)
    except OSError: pass
    _, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.stdout.write(json.dumps({"out": out.decode("latin1"), "code": code, "ok": ok}))
`

export interface PtyResult {
  /** everything the terminal showed (input echo included, when the program echoes) */
  out: string
  code: number
  /** every expected prompt appeared */
  ok: boolean
}

/** Run argv on a fresh pty; for each [regex, text] wait for regex in the output, then type text. */
export function onPty(argv: string[], steps: [string, string][], opts: { env: Record<string, string | undefined>; cwd: string; timeoutMs?: number }): Promise<PtyResult> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v
  const spec = JSON.stringify({ argv, steps, env, cwd: opts.cwd, timeout: (opts.timeoutMs ?? 20_000) / 1000 })
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', DRIVER, spec], { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    p.stdout.on('data', (d) => out.push(d))
    p.stderr.on('data', (d) => err.push(d))
    p.on('error', reject)
    p.on('close', () => {
      try {
        resolve(JSON.parse(Buffer.concat(out).toString()) as PtyResult)
      } catch {
        reject(new Error(`pty driver failed: ${Buffer.concat(err).toString()}`))
      }
    })
  })
}
