import { describeCoreSuite } from "./core-suite.ts";
import { testRedis } from "../../support/cache-test-kit.ts";

describeCoreSuite("a single node", () => testRedis());
