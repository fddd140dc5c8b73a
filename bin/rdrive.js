#!/usr/bin/env node
import('../dist/cli/main.js').catch((err) => {
  console.error(`rdrive: cannot start (${err.message}). Run "npm run build" first.`);
  process.exit(70);
});
