// oo dashboard. Reads the API with the token of the signed-in account (kept in sessionStorage:
// gone when the tab closes), follows GET /proxy-svc/top as a server-sent event stream read with
// fetch (EventSource cannot send an Authorization header) and refreshes the instance list as
// each figure arrives. Everything shown is set with textContent: no server string is parsed as
// HTML.
'use strict';

const KEY = 'oo-dashboard';
const $ = (id) => document.getElementById(id);
let session = null;   // {token, slug, admin}
let stop = null;      // AbortController of the running session's requests
let lastTop = null;   // the latest top snapshot, or null while the stream is down
let instancesBusy = false;

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

async function call(method, path, body, signal) {
  const headers = { 'Prefer': 'oo-extras' };
  if (session) headers['Authorization'] = 'Bearer ' + session.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const rsp = await fetch(path, { method, headers, signal, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await rsp.json().catch(() => ({}));
  if (rsp.status === 401 && session) {
    signOut('Your session ended; sign in again.');
  }
  if (!rsp.ok) throw new Error(data.error || ('HTTP ' + rsp.status));
  return data;
}

async function signIn(ev) {
  ev.preventDefault();
  const form = ev.target;
  $('login-error').textContent = '';
  const slug = form.slug.value.trim();
  try {
    const login = await call('POST', '/user-svc/login', { slug, password: form.password.value });
    session = { token: login.token.token, slug, admin: false };
    const me = await call('POST', '/user-svc/user/by-token');
    session.slug = me.user.slug || slug;
    session.admin = (me.roles || []).includes('user-svc:admin');
    sessionStorage.setItem(KEY, JSON.stringify(session));
    form.reset();
    start();
  } catch (err) {
    session = null;
    $('login-error').textContent = err.message;
  }
}

function signOut(message) {
  const s = session;
  session = null;
  sessionStorage.removeItem(KEY);
  if (stop) stop.abort();
  stop = null;
  if (s && !message) {
    // Revoke the token on the server too; the page forgets it either way.
    fetch('/user-svc/token', { method: 'DELETE', headers: { 'Authorization': 'Bearer ' + s.token } }).catch(() => {});
  }
  show(false);
  $('login-error').textContent = message || '';
}

function show(signedIn) {
  $('login').hidden = signedIn;
  $('board').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  $('who').textContent = signedIn ? session.slug + (session.admin ? ' (admin)' : '') : '';
  setLive(false, signedIn ? 'connecting' : 'offline');
  if (!signedIn) { $('slugs').tBodies[0].replaceChildren(); $('instances').tBodies[0].replaceChildren(); }
}

function setLive(on, text) {
  const el = $('live');
  el.textContent = text;
  el.className = 'live ' + (on ? 'on' : 'off');
}

function start() {
  stop = new AbortController();
  lastTop = null;
  show(true);
  follow(stop.signal);
  poll(stop.signal);
}

// follow reads the top stream until the session ends, reconnecting with a growing pause.
async function follow(signal) {
  let pause = 1000;
  while (!signal.aborted) {
    try {
      await readStream(signal, () => { pause = 1000; });
      if (signal.aborted) return;
      setLive(false, 'reconnecting');
    } catch (err) {
      if (signal.aborted) return;
      setLive(false, 'reconnecting (' + err.message + ')');
    }
    lastTop = null;
    await sleep(pause, signal);
    pause = Math.min(pause * 2, 10000);
  }
}

async function readStream(signal, onOpen) {
  const rsp = await fetch('/proxy-svc/top', { signal, cache: 'no-store',
    headers: { 'Authorization': 'Bearer ' + session.token, 'Accept': 'text/event-stream' } });
  if (rsp.status === 401) { signOut('Your session ended; sign in again.'); return; }
  if (!rsp.ok) throw new Error('HTTP ' + rsp.status);
  onOpen();
  const reader = rsp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (!data.length) continue; // a comment (keep-alive)
      if (event === 'error') {
        // The server ends the stream when the token stops being valid (expired, revoked).
        signOut('Your session ended (' + JSON.parse(data.join('\n')).error + '); sign in again.');
        return;
      }
      onTop(JSON.parse(data.join('\n')));
    }
  }
}

function onTop(top) {
  lastTop = top;
  setLive(true, top.metricsOff ? 'live (no traffic figures: metrics are off)' : 'live');
  renderSlugs(top.slugs || []);
  refreshInstances();
}

// poll refreshes the instances while the stream is down (each top event does it otherwise).
async function poll(signal) {
  while (!signal.aborted) {
    if (!lastTop) refreshInstances();
    await sleep(2000, signal);
  }
}

async function refreshInstances() {
  if (instancesBusy || !session) return;
  instancesBusy = true;
  const signal = stop && stop.signal;
  try {
    const q = new URLSearchParams({ limit: '500' });
    if (!session.admin) q.set('slug', session.slug);
    const data = await call('GET', '/registry-svc/instances?' + q, undefined, signal);
    const list = data.instances || [];
    renderInstances(list, Boolean(data.nextCursor));
    if (!lastTop) renderSlugs(slugsOf(list));
    notice('');
  } catch (err) {
    if (!(signal && signal.aborted)) notice('Could not read the instances: ' + err.message);
  } finally {
    instancesBusy = false;
  }
}

// slugsOf counts instances per slug: the services table while there are no live figures.
function slugsOf(list) {
  const by = new Map();
  for (const i of list) {
    const s = by.get(i.slug) || { slug: i.slug, healthy: 0, instances: 0 };
    s.instances++;
    if (i.status === 'Healthy') s.healthy++;
    by.set(i.slug, s);
  }
  return [...by.values()];
}

function renderSlugs(slugs) {
  slugs = [...slugs].sort((a, b) => (b.rps || 0) - (a.rps || 0) || a.slug.localeCompare(b.slug));
  const rows = slugs.map((s) => row({ 'data-slug': s.slug }, [
    cell('Slug', s.slug),
    cell('Req/s', num(s.rps, 1), 'num'),
    cell('p50', ms(s.p50Ms), 'num'),
    cell('p99', ms(s.p99Ms), 'num'),
    cell('Errors', s.errorRate === undefined ? '–' : (s.errorRate * 100).toFixed(1) + ' %', 'num'),
    cell('In flight', s.inFlight === undefined ? '–' : String(s.inFlight), 'num'),
    cell('Requests', s.requests === undefined ? '–' : String(s.requests), 'num'),
    cell('Healthy', s.instances === undefined ? '–' : s.healthy + '/' + s.instances, 'num'),
  ]));
  $('slugs').tBodies[0].replaceChildren(...rows);
  $('slugs-empty').hidden = rows.length > 0;
}

function renderInstances(list, more) {
  list = [...list].sort((a, b) => (a.slug || '').localeCompare(b.slug || '') || a.url.localeCompare(b.url));
  const rows = list.map((i) => row({ 'data-id': i.id, 'data-status': i.status }, [
    cell('Slug', i.slug || ''),
    cell('URL', i.url, 'url'),
    cell('Status', i.status, 'status status-' + i.status),
    cell('Last heartbeat', ago(i.lastHeartbeat), 'when'),
    cell('Why', i.details || '', 'why'),
  ]));
  $('instances').tBodies[0].replaceChildren(...rows);
  $('instances-empty').hidden = rows.length > 0;
  $('instances-more').hidden = !more;
  $('instances-more').textContent = more ? 'Showing the first ' + list.length + '; `oo instance ls` lists them all.' : '';
}

function row(attrs, cells) {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  tr.append(...cells);
  return tr;
}

function cell(label, text, cls) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function num(v, digits) { return v === undefined ? '–' : v.toFixed(digits); }
function ms(v) { return v === undefined ? '–' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ms'; }

function ago(when) {
  if (!when) return '–';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(when)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  return new Date(when).toLocaleString();
}

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

$('login').addEventListener('submit', signIn);
$('signout').addEventListener('click', () => signOut());
session = load();
if (session && session.token) start(); else show(false);
