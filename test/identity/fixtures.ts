// Offline stand-ins for Keybase and GitHub: one loopback HTTP server answering in the shapes of
// Keybase's user lookup, GitHub's USER.keys and gists API, and raw documents; plus real users'
// keys made for the test (a gpg ed25519 key in a throwaway GNUPGHOME, an ssh ed25519 key).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import http from 'node:http'
import { execFileSync } from 'node:child_process'
import net, { type AddressInfo } from 'node:net'

type T = { after(fn: () => void | Promise<void>): void }

export interface Route {
  status?: number
  headers?: Record<string, string>
  body: string | Buffer
}

export interface FakeServices {
  base: string
  /** path (with query for the Keybase lookup, as `/kb/lookup?usernames=alice`) → answer */
  routes: Map<string, Route | 'hang'>
  /** env pointing polykey at this server */
  env: Record<string, string>
  requests: string[]
  keybaseUser(name: string, o: { bundle?: string; fingerprint?: string; proofs?: object[] }): void
  githubKeys(user: string, keys: string[]): void
  gists(user: string, files: { name: string; path: string }[]): void
  doc(path: string, text: string): void
}

export async function fakeServices(t: T): Promise<FakeServices> {
  const routes = new Map<string, Route | 'hang'>()
  const requests: string[] = []
  const hanging = new Set<http.ServerResponse>()
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    requests.push(url.pathname + url.search)
    const key = url.pathname.endsWith('/user/lookup.json') ? `${url.pathname}?usernames=${url.searchParams.get('usernames')}` : url.pathname
    const r = routes.get(key)
    if (r === 'hang') return void hanging.add(res)
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/plain' })
      return void res.end('Not Found')
    }
    res.writeHead(r.status ?? 200, r.headers ?? {})
    res.end(r.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const json = (v: unknown): Route => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) })
  return {
    base,
    routes,
    requests,
    env: { POLYKEY_KEYBASE_URL: `${base}/kb`, POLYKEY_GITHUB_URL: `${base}/gh`, POLYKEY_GITHUB_API_URL: `${base}/api`, POLYKEY_IDENTITY_TIMEOUT: '5' },
    keybaseUser(name, o) {
      routes.set(
        `/kb/_/api/1.0/user/lookup.json?usernames=${name}`,
        json({
          status: { code: 0, name: 'OK' },
          them: [
            {
              id: '9a2c8a8ac48162723c7992570c87da00',
              basics: { username: name, ctime: 1399919269, mtime: 1399919269 },
              public_keys: o.bundle
                ? { primary: { key_fingerprint: (o.fingerprint ?? '').toLowerCase(), kid: '0101aa', key_type: 1, bundle: o.bundle }, pgp_public_keys: [o.bundle] }
                : {},
              proofs_summary: { all: o.proofs ?? [] },
            },
          ],
          csrf_token: 'lgHZIDQ1NTU0ODE3',
        }),
      )
    },
    githubKeys(user, keys) {
      routes.set(`/gh/${user}.keys`, { headers: { 'content-type': 'text/plain' }, body: keys.map((k) => k + '\n').join('') })
    },
    gists(user, files) {
      routes.set(
        `/api/users/${user}/gists`,
        json([
          {
            id: 'aa5a315d61ae9438b18d',
            html_url: `${base}/gist/${user}/aa5a315d61ae9438b18d`,
            public: true,
            owner: { login: user },
            description: 'polykey',
            files: Object.fromEntries(files.map((f) => [f.name, { filename: f.name, type: 'text/plain', raw_url: `${base}${f.path}`, size: 1000 }])),
          },
        ]),
      )
    },
    doc(p, text) {
      routes.set(p, { headers: { 'content-type': 'text/plain' }, body: text })
    },
  }
}

/** A folder for a throwaway GNUPGHOME (or ssh keys); any gpg-agent in it is stopped first. */
export function keyHome(t: T, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => {
    try {
      execFileSync('gpgconf', ['--homedir', dir, '--kill', 'all'], { stdio: 'ignore' })
    } catch {}
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

export interface GpgUser {
  home: string
  fingerprint: string
  bundle: string
  /** clearsign text with this user's key */
  clearsign(text: string): string
}

export function gpgUser(t: T, name: string): GpgUser {
  const home = keyHome(t, 'pk-gnupg-')
  const env = { ...process.env, GNUPGHOME: home }
  execFileSync('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <${name}@example.org>`, 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' })
  const colons = execFileSync('gpg', ['--batch', '--with-colons', '--fingerprint', '--list-keys'], { env }).toString()
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]
  const bundle = execFileSync('gpg', ['--batch', '--armor', '--export', fingerprint], { env }).toString()
  return {
    home,
    fingerprint,
    bundle,
    clearsign: (text) =>
      execFileSync('gpg', ['--batch', '--armor', '--clearsign', '--local-user', fingerprint], { env, input: text, stdio: ['pipe', 'pipe', 'ignore'] }).toString(),
  }
}

export interface SshUser {
  file: string
  /** `TYPE BASE64`, as GitHub lists it */
  key: string
  sign(text: string): string
}

export function sshUser(t: T, name: string): SshUser {
  const dir = keyHome(t, 'pk-sshkey-')
  const file = path.join(dir, 'id_ed25519')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', file], { stdio: 'ignore' })
  const key = fs.readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
  return {
    file,
    key,
    sign: (text) => execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'polykey', '-f', file], { input: text, stdio: ['pipe', 'pipe', 'ignore'] }).toString(),
  }
}

/** A loopback port nothing listens on (a service that is down). */
export async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/**
 * Something made once for a whole test file (a node that only signs claims): cleaned up when the
 * file's tests are done, not after the first test that asked for it.
 */
export function perFile<V>(make: (t: T) => Promise<V>, after: (fn: () => Promise<void>) => void): () => Promise<V> {
  let made: Promise<V> | null = null
  const hooks: (() => void | Promise<void>)[] = []
  after(async () => {
    for (const h of hooks.reverse()) await h()
  })
  return () => (made ??= make({ after: (fn) => void hooks.push(fn) }))
}
