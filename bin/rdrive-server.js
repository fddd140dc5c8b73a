#!/usr/bin/env node
import('../dist/server/cli/main.js').catch((err) => {
  console.error(`rdrive-server: cannot start (${err.message}). Run "npm run build" first.`);
  process.exit(70);
});
