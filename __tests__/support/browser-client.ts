import makeFetchCookie from "fetch-cookie";
import { CookieJar } from "tough-cookie";

/**
 * A browser-style HTTP client: a real cookie jar (tough-cookie, RFC 6265) and fetch following redirects with the
 * jar applied at every hop (fetch-cookie), as a browser does across SpyWatcher -> Discord -> SpyWatcher.
 */
export function browserClient() {
  const jar = new CookieJar();
  const fetchWithCookies = makeFetchCookie(fetch, jar);
  return {
    jar,
    fetch: fetchWithCookies,
    /** The value of one cookie the jar would send to `url`. */
    async cookie(url: string, name: string): Promise<string | undefined> {
      return (await jar.getCookies(url)).find((cookie) => cookie.key === name)?.value;
    },
  };
}
