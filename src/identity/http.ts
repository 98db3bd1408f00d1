// GET with bounds: every request has a deadline, every answer a size limit, and every failure
// becomes one line naming the service (docs/IDENTITY.md §Networking). Node's own fetch does the
// HTTP; this file only decides what to accept. Only the identity commands load it.
import { PolykeyError } from '../errors.js'

export interface HttpOptions {
  /** who we are talking to, for messages: "Keybase", "GitHub", "the proof URL" */
  label: string
  timeoutMs: number
  maxBytes: number
  /** refuse plain http except to this machine: the answer is trusted (it lists keys) */
  requireTls?: boolean
  accept?: string
  signal?: AbortSignal
}

export interface HttpAnswer {
  status: number
  headers: Headers
  body: Buffer
  url: string
}

const MAX_REDIRECTS = 5
const USER_AGENT = 'polykey-identity/1'

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** A base URL from an option or the environment; checked once, at the edge. */
export function checkUrl(raw: string, what: string, requireTls: boolean): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new PolykeyError('USAGE', `${what} is not a URL: ${JSON.stringify(raw)}`)
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new PolykeyError('USAGE', `${what} must be an http(s) URL, not ${u.protocol}`)
  if (requireTls && u.protocol === 'http:' && !isLoopback(u.hostname))
    throw new PolykeyError(
      'REFUSED',
      `${what} ${u.origin} is plain http: anyone on the way could change the keys it lists`,
      { url: u.href },
      { hint: 'use https (plain http is accepted only to this machine)' },
    )
  if (u.username || u.password) throw new PolykeyError('USAGE', `${what} must not carry a user name or password`)
  return u
}

function unreachable(opts: HttpOptions, url: URL, err: unknown): PolykeyError {
  const e = err as { name?: string; cause?: { code?: string; name?: string; message?: string } }
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError')
    return new PolykeyError(
      'PEER',
      `${opts.label} (${url.origin}) did not answer within ${Math.round(opts.timeoutMs / 1000)} s`,
      { url: url.href, reason: 'timeout' },
      { cause: err },
    )
  if (e?.name === 'AbortError') return new PolykeyError('PEER', `the request to ${opts.label} was cancelled`, { url: url.href, reason: 'aborted' }, { cause: err })
  const code = e?.cause?.code
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'host name not found'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
          ? 'the connection was cut'
          : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
            ? 'no route to the host'
            : code?.startsWith('ERR_TLS') || code?.includes('CERT')
              ? `TLS failed (${code})`
              : e?.cause?.message === 'bad port'
                ? `port ${url.port} is one fetch refuses to use`
                : (code ?? (e?.cause?.message?.slice(0, 100) || 'network error'))
  return new PolykeyError('PEER', `cannot reach ${opts.label} at ${url.origin}: ${why}`, { url: url.href, reason: code ?? 'network' }, { cause: err })
}

async function readCapped(res: Response, opts: HttpOptions, url: URL): Promise<Buffer> {
  const tooBig = () => new PolykeyError('PEER', `${opts.label} answered more than ${opts.maxBytes} bytes for ${url.pathname}; refusing it`, { url: url.href, reason: 'too-large' })
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > opts.maxBytes) {
    await res.body?.cancel().catch(() => {})
    throw tooBig()
  }
  if (!res.body) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  let total = 0
  const reader = res.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > opts.maxBytes) {
      await reader.cancel().catch(() => {})
      throw tooBig()
    }
    chunks.push(Buffer.from(value))
  }
  return Buffer.concat(chunks)
}

/** GET url, following at most a few redirects (each checked like the first). Any status is returned. */
export async function get(raw: string | URL, opts: HttpOptions): Promise<HttpAnswer> {
  let url = checkUrl(typeof raw === 'string' ? raw : raw.href, opts.label, !!opts.requireTls)
  const deadline = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline
  for (let hop = 0; ; hop++) {
    let res: Response
    try {
      res = await fetch(url, { redirect: 'manual', signal, headers: { 'user-agent': USER_AGENT, accept: opts.accept ?? '*/*' } })
    } catch (err) {
      throw unreachable(opts, url, deadline.aborted ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : err)
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel().catch(() => {})
      if (hop >= MAX_REDIRECTS) throw new PolykeyError('PEER', `${opts.label} redirected too many times`, { url: url.href, reason: 'redirects' })
      url = checkUrl(new URL(res.headers.get('location')!, url).href, `${opts.label}'s redirect`, !!opts.requireTls)
      continue
    }
    try {
      return { status: res.status, headers: res.headers, body: await readCapped(res, opts, url), url: url.href }
    } catch (err) {
      if (err instanceof PolykeyError) throw err
      throw unreachable(opts, url, deadline.aborted ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : err)
    }
  }
}

/** One line for an answer that is not a success. */
export function statusError(opts: { label: string }, a: HttpAnswer, what: string): PolykeyError {
  if (a.status === 429 || (a.status === 403 && a.headers.get('x-ratelimit-remaining') === '0')) {
    const reset = Number(a.headers.get('x-ratelimit-reset') ?? NaN)
    const retry = a.headers.get('retry-after')
    const when = Number.isFinite(reset) ? ` until ${new Date(reset * 1000).toISOString().slice(11, 16)} UTC` : retry && /^\d+$/.test(retry) ? ` for ${retry} s` : ''
    return new PolykeyError('PEER', `${opts.label} is rate-limiting requests${when}; try again later`, { url: a.url, status: a.status, reason: 'rate-limited' })
  }
  if (a.status >= 500) return new PolykeyError('PEER', `${opts.label} is failing (HTTP ${a.status}) for ${what}`, { url: a.url, status: a.status, reason: 'server' })
  return new PolykeyError('PEER', `${opts.label} answered HTTP ${a.status} for ${what}`, { url: a.url, status: a.status, reason: 'status' })
}

export function parseJson(opts: { label: string }, a: HttpAnswer, what: string): unknown {
  try {
    return JSON.parse(a.body.toString('utf8'))
  } catch {
    throw new PolykeyError('PEER', `${opts.label} answered something that is not JSON for ${what}`, { url: a.url, reason: 'malformed' })
  }
}
