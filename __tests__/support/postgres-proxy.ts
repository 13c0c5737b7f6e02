import { TcpProxy } from "./tcp-proxy.ts";
import { TEST_DATABASE_URL } from "./test-env.ts";

/** A fault proxy in front of the test PostgreSQL, and the database URL that goes through it. */
export interface PostgresProxy {
  proxy: TcpProxy;
  /** TEST_DATABASE_URL pointed at the proxy: give it to the service as DATABASE_URL. */
  databaseUrl: string;
}

/** Starts a TcpProxy (pass / cut / black-hole / restore) in front of the test database. */
export async function startPostgresProxy(): Promise<PostgresProxy> {
  const target = new URL(TEST_DATABASE_URL);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
  return { proxy, databaseUrl: proxy.rewrite(TEST_DATABASE_URL) };
}
