import { describeCoreSuite } from "./core-suite.ts";
import { testRedis } from "./cache-test-kit.ts";

describeCoreSuite("a single node", () => testRedis());
