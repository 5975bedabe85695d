// Swagger UI's files (npm swagger-ui-dist, Apache-2.0) beside the console, so that /docs works
// without internet: silkcharge serves them at /api-docs-assets (silkcharge/api/app.py).
import { copyFileSync, mkdirSync } from "node:fs";

const from = "node_modules/swagger-ui-dist/";
const to = "../src/silkcharge/web/static/api-docs-assets/";
mkdirSync(to, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"])
  copyFileSync(from + name, to + name);
