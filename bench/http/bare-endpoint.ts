import { readFileSync } from "node:fs";
import express from "express";

/**
 * The limit of `npm run bench:http`: a bare Express 5 endpoint (no auth, no middleware, no logging) answering the
 * bytes of the file given as the first argument as JSON. Prints `{"port": N}` once it listens.
 */
const body = readFileSync(process.argv[2]!, "utf8");
const app = express();
app.disable("x-powered-by");
app.get("/", (_req, res) => {
  res.type("application/json").send(body);
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
