import type { Request, RequestHandler, Response } from "express";

/** Label of requests no mounted router took (unknown paths): one series, however many distinct URLs arrive. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Mounts `router` so that it notes where it is mounted (`res.locals.routeBase`) before it runs: the configured
 * mount path, never `req.baseUrl`, which keeps the client's letter case (Express matches paths case-insensitively,
 * so `/API/Admin/x` would otherwise mint new label values). Use it as `app.use(path, withRouteBase(path, router))`:
 * once a request leaves a router with an error, Express restores `req.baseUrl`, so the mount path would otherwise
 * be lost by the time the response is finished. One router layer per mount (a separate noting middleware was a
 * second layer, walked by every request that passed the mount).
 */
export function withRouteBase(mountPath: string, router: RequestHandler): RequestHandler {
  return (req, res, next) => {
    res.locals.routeBase = mountPath;
    return router(req, res, next);
  };
}

/**
 * The route template a request matched, e.g. `/api/analytics/:type`, never the raw URL (so metric labels stay few).
 * A request that entered a router but matched none of its routes (a 401 from its auth, a 404) is `<mount>/*`;
 * one that entered no router is "unmatched".
 */
export function routeTemplate(req: Request, res: Response): string {
  // Set by an app's fast path (http/app.ts), which answers before any router.
  if (typeof res.locals.routeTemplate === "string") return res.locals.routeTemplate;
  const base = typeof res.locals.routeBase === "string" ? res.locals.routeBase : undefined;
  const routePath = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof routePath === "string") {
    // Without a noted base (a router mounted without withRouteBase) the URL's own spelling is all there is.
    const mount = base ?? req.baseUrl;
    // A router's "/" route under a mount is the mount itself ("/health", not "/health/").
    return routePath === "/" && mount !== "" ? mount : `${mount}${routePath}`;
  }
  return base === undefined ? UNMATCHED_ROUTE : `${base}/*`;
}
