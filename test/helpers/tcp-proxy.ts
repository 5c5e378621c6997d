import net from "node:net";

/**
 * A TCP proxy on a loopback port that forwards every connection to `target` (the test's Postgres), so that a test
 * can take the database away from an app process and give it back: cut() destroys every connection and refuses
 * new ones (connection refused, as a database that is down); swallow() keeps every connection open and accepts new
 * ones but passes nothing on (a black-holed network: no answer, no error); restore() forwards again on the same
 * port, to new connections (a swallowed one stays silent, as it would on a network that lost its packets).
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  /** Connections that get nothing through: accepted while swallowing, or open when swallow() began. */
  private readonly silent = new Set<net.Socket>();
  private swallowing = false;
  /** Connections accepted since the start. */
  accepted = 0;

  private constructor(
    private readonly target: { host: string; port: number },
    public port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    const server = net.createServer((client) => this.forward(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        server.off("error", reject);
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  /** Reads and drops whatever the client sends, and never answers, until the proxy closes. */
  private silence(client: net.Socket): void {
    this.silent.add(client);
    client.on("error", () => client.destroy());
    client.on("close", () => this.silent.delete(client));
    client.on("data", () => {});
  }

  private forward(client: net.Socket): void {
    this.accepted += 1;
    if (this.swallowing) {
      this.silence(client);
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    // pipe() ends the other side when one side ends: a backend that Postgres terminates closes the app's socket too.
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /**
   * The local ports of the proxy's connections to the target: in pg_stat_activity these are the client_port of
   * the backends serving whatever connects through this proxy, and of nothing else.
   */
  upstreamPorts(): number[] {
    return [...this.pairs].map((p) => p.upstream.localPort).filter((port): port is number => typeof port === "number");
  }

  /** The number of connections open through the proxy now. */
  openConnections(): number {
    return this.pairs.size;
  }

  /** Destroys every connection and stops accepting: new connections are refused until restore(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await closed;
  }

  /** From now on nothing passes, either way, on any connection: open ones go silent, new ones are accepted silently. */
  swallow(): void {
    this.swallowing = true;
    for (const pair of this.pairs) {
      const { client, upstream } = pair;
      this.pairs.delete(pair);
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.removeAllListeners("close");
      client.removeAllListeners("error");
      upstream.removeAllListeners();
      upstream.on("error", () => {});
      upstream.destroy();
      this.silence(client);
    }
  }

  /** Accepts and forwards new connections again, on the same port. */
  async restore(): Promise<void> {
    this.swallowing = false;
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    for (const client of this.silent) client.destroy();
    this.silent.clear();
    await this.cut();
  }
}
