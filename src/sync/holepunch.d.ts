// The little of @hyperswarm/secret-stream and hyperdht that src/sync uses (they ship no types).
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  class NoiseSecretStream {
    constructor(isInitiator: boolean, rawStream?: Duplex | null, opts?: { keyPair?: KeyPair; remotePublicKey?: Buffer; pattern?: string })
    readonly opened: Promise<boolean>
    readonly remotePublicKey: Buffer | null
    readonly publicKey: Buffer | null
    readonly rawStream: any
    write(b: Buffer): boolean
    end(): void
    destroy(err?: Error): void
    on(event: string, fn: (...args: any[]) => void): this
    once(event: string, fn: (...args: any[]) => void): this
    removeListener(event: string, fn: (...args: any[]) => void): this
    static keyPair(seed?: Buffer): KeyPair
  }
  export default NoiseSecretStream
}

declare module 'hyperdht' {
  import type NoiseSecretStream from '@hyperswarm/secret-stream'
  interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  interface DhtServer {
    listen(keyPair: KeyPair): Promise<void>
    close(): Promise<void>
    on(event: string, fn: (...args: any[]) => void): this
  }
  class DHT {
    constructor(opts?: { bootstrap?: (string | { host: string; port: number })[]; host?: string; port?: number; ephemeral?: boolean; firewalled?: boolean })
    createServer(opts: { firewall?: (remotePublicKey: Buffer) => boolean } | undefined, onconnection: (conn: NoiseSecretStream) => void): DhtServer
    connect(remotePublicKey: Buffer, opts?: { keyPair?: KeyPair }): NoiseSecretStream
    fullyBootstrapped(): Promise<void>
    destroy(): Promise<void>
    static keyPair(seed?: Buffer): KeyPair
  }
  export default DHT
}

declare module 'hyperdht/testnet.js' {
  import type DHT from 'hyperdht'
  interface Testnet {
    nodes: DHT[]
    bootstrap: { host: string; port: number }[]
    createNode(opts?: object): DHT
    destroy(): Promise<void>
  }
  export default function createTestnet(size?: number, opts?: { host?: string; port?: number; teardown?: (fn: () => Promise<void>) => void }): Promise<Testnet>
}
