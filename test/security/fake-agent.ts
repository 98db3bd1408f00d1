// A listener planted where a Polykey agent is looked for, run as another user: it records what
// it is sent and answers like an agent would (a stdout frame, then exit code 0), so that a
// client that trusted it would show the attacker's text. test/security/agent.test.ts and
// git-helper-agent.test.ts plant it.
import fs from 'node:fs'
import { spawn } from 'node:child_process'

export const NOBODY = 65534

/** A listener that records what it is sent and answers like an agent would, as uid `uid`. */
export function fakeAgent(sock: string, uid: number, answer: string): { kill(): void; received(): string; ready: Promise<void> } {
  const script = `
    const net = require('net'), fs = require('fs');
    try { fs.rmSync(${JSON.stringify(sock)}, { force: true }) } catch {}
    let got = Buffer.alloc(0);
    const srv = net.createServer({ allowHalfOpen: true }, (c) => {
      c.on('data', (d) => { got = Buffer.concat([got, d]); fs.writeFileSync(${JSON.stringify(sock + '.got')}, got) });
      c.on('end', () => { const p = Buffer.from(${JSON.stringify(answer)}); const h = Buffer.alloc(5); h[0] = 1; h.writeUInt32BE(p.length, 1);
        const e = Buffer.alloc(9); e[0] = 3; e.writeUInt32BE(4, 1); e.writeInt32BE(0, 5); c.end(Buffer.concat([h, p, e])) });
    });
    srv.listen(${JSON.stringify(sock)}, () => { fs.chmodSync(${JSON.stringify(sock)}, 0o777); process.stdout.write('ready\\n') });`
  const p = spawn(process.execPath, ['-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] })
  const ready = new Promise<void>((resolve) => p.stdout.on('data', () => resolve()))
  return {
    ready,
    kill: () => p.kill('SIGKILL'),
    received: () => {
      try {
        return fs.readFileSync(sock + '.got', 'latin1')
      } catch {
        return ''
      }
    },
  }
}
