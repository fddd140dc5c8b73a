import { Pool } from 'undici';
const pool = new Pool('http://127.0.0.1:9911', { connections: 1 });
const r0 = await pool.request({ method: 'POST', path: '/api/v1/session', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
const { token } = await r0.body.json() as { token: string };
async function t(label: string, fn: (i: number) => Promise<unknown>) {
  for (let i = 0; i < 500; i++) await fn(i);
  const N = 4000; const s = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn(i);
  console.log(label, (Number(process.hrtime.bigint() - s) / 1e6 / N).toFixed(3), 'ms');
}
await t('health', async () => { const r = await pool.request({ method: 'GET', path: `/api/v1/health` }); await r.body.text(); });
await t('statfs', async () => { const r = await pool.request({ method: 'GET', path: `/api/v1/statfs`, headers: { authorization: `Bearer ${token}` } }); await r.body.text(); });
await t('stat', async () => { const r = await pool.request({ method: 'GET', path: `/api/v1/stat/`, headers: { authorization: `Bearer ${token}` } }); await r.body.text(); });
await t('health', async () => { const r = await pool.request({ method: 'GET', path: `/api/v1/health` }); await r.body.text(); });
await pool.close();
