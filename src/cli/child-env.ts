// The environment a program started by polykey gets (an editor, `env`'s command, a daemon):
// the caller's, less every variable that carries a passphrase or key. A secret given to
// polykey is for polykey; children, and their children, never see it.
const SECRET_VARS = /(^|_)PASSPHRASE($|_)|^POLYKEY_KEY$/

export function childEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !SECRET_VARS.test(k)) out[k] = v
  return { ...out, ...extra }
}
