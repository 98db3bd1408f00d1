// The detached clipboard clearer (started by clipboard.ts; not a command). It reads one
// ClearRequest line on stdin, waits, and empties the clipboard only if it still holds the value
// whose keyed hash it was given. It never learns the value unless the clipboard still holds it.
import { type ClearRequest, findClipTool, keyedDigest, runTool, toolEnv } from './clipboard.js'
import { equal, wipe } from '../crypto/index.js'
import { hardenProcess } from '../crypto/harden.js'

async function main(): Promise<void> {
  hardenProcess({ lockMemory: false }) // what it reads back is a secret: no core dumps
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  const req = JSON.parse(Buffer.concat(chunks).toString()) as ClearRequest
  process.stdin.destroy()
  const env = toolEnv(process.env)
  const tool = findClipTool(env)
  if (!tool || tool.name !== req.tool) return
  const key = Buffer.from(req.key, 'hex')
  const want = Buffer.from(req.digest, 'hex')
  await new Promise((r) => setTimeout(r, req.seconds * 1000))
  const now = await runTool(tool.paste, null, env, true).catch(() => null)
  if (!now || now.code !== 0) return // empty or owned by nobody: nothing of ours is there
  const same = equal(keyedDigest(now.stdout, key), want)
  wipe(now.stdout)
  wipe(key)
  if (!same) return
  if (tool.clear) await runTool(tool.clear, null, env).catch(() => null)
  else await runTool(tool.copy, Buffer.alloc(0), env).catch(() => null)
}

main().then(
  () => process.exit(0),
  () => process.exit(1),
)
