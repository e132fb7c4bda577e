// The holder page: spends the receipt's activation code once, keeps the holder secret and the
// batch of daily tokens in this browser's storage, and shows the QR of the token valid now,
// switching by itself at the day's boundary. Works offline for the whole batch (sw.js keeps the
// page). It draws QR modules the registry computed; it encodes nothing itself.
'use strict';

const STORE = 'enroll-holder-v1';
const REFRESH_MS = 30 * 60 * 1000;
// Tokens become valid ten minutes before their day starts; the page switches at the day itself.
const EARLY_S = 600;
// Warn when the batch ends within this many seconds.
const ENDING_S = 36 * 3600;
const ERRORS = {
  'not-ready': 'holder-not-ready',
  'malformed-code': 'holder-typing-mistake',
  'too-many-tries': 'holder-too-many',
  'locked': 'holder-locked',
  'used': 'holder-used',
  'expired': 'holder-expired',
  'ended': 'holder-ended',
};

let messages = {};
let state = load();
let timer = null;
const $ = (id) => document.getElementById(id);

function load() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
}
function save() { localStorage.setItem(STORE, JSON.stringify(state)); }

function lang() {
  if (state.lang) return state.lang;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
function locale() { return lang() === 'zh' ? 'zh-CN' : 'en-GB'; }
function t(id, vars) {
  let text = (messages[lang()] || {})[id] || (messages.en || {})[id] || '';
  for (const [name, value] of Object.entries(vars || {})) text = text.split('{' + name + '}').join(value);
  return text;
}
function say(id, problem, vars) {
  const line = $('message');
  line.textContent = id ? t(id, vars) : '';
  line.className = problem ? 'problem' : '';
  line.dataset.msg = id || '';
}

async function loadMessages() {
  try { messages = await (await fetch('messages.json')).json(); } catch (e) { messages = {}; }
}

function applyLanguage() {
  document.documentElement.lang = lang();
  document.title = t('holder-title');
  document.querySelectorAll('[data-msg]').forEach((el) => {
    if (el.id !== 'message') el.textContent = t(el.dataset.msg);
  });
  document.querySelectorAll('[data-lang]').forEach((b) =>
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang())));
}

function nowS() { return Date.now() / 1000; }
function tokensOf(profile) {
  return ((state.batch && state.batch.tokens) || []).filter((x) => x.profile === profile);
}

// The token to show now: valid now, and of the latest day that has begun.
function currentToken() {
  const now = nowS();
  const valid = tokensOf(state.profile || 'basic')
    .filter((x) => x.not_before_unix_s <= now && now < x.expires_unix_s)
    .sort((a, b) => b.not_before_unix_s - a.not_before_unix_s);
  return valid.find((x) => x.not_before_unix_s + EARLY_S <= now) || valid[0] || null;
}

function drawQr(token) {
  const canvas = $('qr');
  const quiet = 4;
  const cells = token.qr_side + 2 * quiet;
  const scale = Math.max(4, Math.floor(1040 / cells));
  canvas.width = canvas.height = cells * scale;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  const bits = atob(token.qr_modules);
  for (let i = 0; i < token.qr_side * token.qr_side; i++) {
    if (bits.charCodeAt(i >> 3) & (0x80 >> (i & 7))) {
      const x = (i % token.qr_side) + quiet;
      const y = Math.floor(i / token.qr_side) + quiet;
      ctx.fillRect(x * scale, y * scale, scale, scale);
    }
  }
  canvas.dataset.day = token.day;
  canvas.dataset.profile = token.profile;
}

function formatTime(s) {
  return new Date(s * 1000).toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' });
}
function formatDate(s) {
  return new Date(s * 1000).toLocaleDateString(locale(), { weekday: 'short', day: 'numeric', month: 'short' });
}

function render() {
  clearTimeout(timer);
  applyLanguage();
  const shown = Boolean(state.secret && state.batch);
  $('activate').hidden = shown;
  $('card').hidden = !shown;
  if (!shown) return;
  const batch = state.batch;
  $('photo').src = batch.photo_jpeg_base64 ? 'data:image/jpeg;base64,' + batch.photo_jpeg_base64 : '';
  $('tier').textContent = t('holder-tier-' + batch.tier);
  $('tier').className = 'tier ' + batch.tier;
  const profile = state.profile || 'basic';
  document.querySelectorAll('[data-profile]').forEach((b) =>
    b.setAttribute('aria-selected', String(b.dataset.profile === profile)));
  const token = state.ended ? null : currentToken();
  const last = Math.max(0, ...tokensOf(profile).map((x) => x.expires_unix_s));
  $('qr').hidden = !token;
  $('batch').className = 'batch';
  if (state.ended) {
    $('valid-until').textContent = '';
    $('batch').textContent = t('holder-ended');
    $('batch').className = 'batch ending';
  } else if (!token) {
    $('valid-until').textContent = '';
    $('batch').textContent = t('holder-batch-out');
    $('batch').className = 'batch ending';
  } else {
    drawQr(token);
    $('valid-until').textContent = t('holder-valid-until', { time: formatTime(token.expires_unix_s) });
    const ending = last - nowS() < ENDING_S;
    $('batch').textContent = t(ending ? 'holder-batch-ending' : 'holder-batch-until', { date: formatDate(last) });
    if (ending) $('batch').className = 'batch ending';
  }
  $('updated').textContent = state.fetchedAt
    ? t('holder-updated', { time: new Date(state.fetchedAt).toLocaleString(locale()) }) : '';
  // Draw again when the next day's token begins or this one ends, and each minute for the text.
  const now = nowS();
  let next = now + 60;
  for (const x of tokensOf(profile)) {
    const begins = x.not_before_unix_s + EARLY_S;
    if (begins > now) next = Math.min(next, begins);
  }
  if (token) next = Math.min(next, token.expires_unix_s);
  timer = setTimeout(render, Math.max(1000, (next - now) * 1000 + 250));
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    cache: 'no-store',
  });
  let json = {};
  try { json = await response.json(); } catch (e) { json = {}; }
  return { status: response.status, json };
}

async function refresh() {
  if (!state.secret) return;
  let answer;
  try {
    answer = await post('../v1/holder/tokens', { holder_secret: state.secret });
  } catch (e) {
    say('holder-offline');
    return;
  }
  if (answer.status === 200) {
    state.batch = answer.json;
    state.fetchedAt = Date.now();
    state.ended = false;
    save();
    say('');
  } else if (answer.json.error === 'ended' || answer.json.error === 'unknown-holder') {
    state.ended = true;
    save();
    say('holder-ended', true);
  } else {
    say('holder-unavailable', true);
  }
  render();
}

async function activate(typed) {
  const plain = typed.replace(/[\s-]/g, '');
  if (plain.length !== 12) {
    say('holder-malformed-code', true);
    return;
  }
  say('holder-activating');
  let answer;
  try {
    answer = await post('../v1/holder/activate', { code: typed });
  } catch (e) {
    say('holder-no-network', true);
    return;
  }
  if (answer.status === 201 && answer.json.holder_secret) {
    state = { lang: state.lang, profile: state.profile, secret: answer.json.holder_secret };
    save();
    await refresh();
    return;
  }
  say(ERRORS[answer.json.error] || 'holder-unavailable', true);
}

function wire() {
  $('activate-form').addEventListener('submit', (event) => {
    event.preventDefault();
    activate($('code').value);
  });
  document.querySelectorAll('[data-lang]').forEach((b) => b.addEventListener('click', () => {
    state.lang = b.dataset.lang;
    save();
    render();
    const shown = $('message').dataset.msg;
    if (shown) say(shown, $('message').className === 'problem');
  }));
  document.querySelectorAll('[data-profile]').forEach((b) => b.addEventListener('click', () => {
    state.profile = b.dataset.profile;
    save();
    render();
  }));
  $('refresh').addEventListener('click', refresh);
  $('forget').addEventListener('click', () => {
    if (window.confirm(t('holder-forget-confirm'))) {
      state = { lang: state.lang };
      save();
      render();
    }
  });
  window.addEventListener('online', refresh);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') { render(); refresh(); }
  });
  setInterval(refresh, REFRESH_MS);
}

async function main() {
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
  await loadMessages();
  wire();
  render();
  const match = /code=([0-9A-Za-z-]+)/.exec(location.hash);
  if (match) {
    history.replaceState(null, '', location.pathname);
    $('code').value = match[1];
    if (!state.secret) { await activate(match[1]); return; }
  }
  if (state.secret) await refresh();
  if (navigator.wakeLock && state.batch) navigator.wakeLock.request('screen').catch(() => {});
}

main();
