// The paper desk: an order ticket with the market's book beside it, the account's positions
// with live P&L, open orders with cancel, fills, the equity curve, metrics and risk events, and
// the kill and flatten buttons. State comes from `paper` messages on the stream (one account's
// cash, equity, positions, open orders and new fills); the book, metrics and risk events are
// fetched from /api when something changed. Orders go to POST /api/paper/orders.
import * as fmt from "./format.js";

const ACCOUNT = "manual";
const FILLS_SHOWN = 30;
const EQUITY_POINTS = 300;
const BOOK_LEVELS = 5;
const FETCH_GAP_MS = 1000; // at most one metrics / risk-events fetch a second

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  if (text) e.textContent = text;
  return e;
}

function cells(row, values) {
  for (const v of values) row.append(el("td", {}, v));
  return row;
}

async function api(path, init) {
  const r = await fetch(path, init);
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  return { ok: r.ok, status: r.status, body };
}

export class DeskPanel {
  constructor(root) {
    this.root = root;
    this.q = (id) => root.querySelector(`[data-testid="${id}"]`);
    this.account = null; // the latest paper message for ACCOUNT
    this.fills = [];
    this.equity = [];
    this.book = null;
    this.metrics = null;
    this.risk = [];
    this.message = "";
    this.dirty = true;
    this.lastFetch = -Infinity;
    this.fetchTimer = 0;
    this.q("desk-ticket").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.place();
    });
    this.q("desk-ticker").addEventListener("change", () => this.fetchBook());
    this.q("desk-kill").addEventListener("click", () => this.control("kill"));
    this.q("desk-flatten").addEventListener("click", () => this.control("flatten"));
    this.q("desk-orders").addEventListener("click", (ev) => {
      const id = ev.target?.dataset?.cancel;
      if (id) this.cancel(id);
    });
    this.load();
  }

  async load() {
    // the panel shows when the server has a desk with the manual account
    const r = await api("/api/paper/accounts");
    const mine = r.ok ? (r.body.accounts || []).find((a) => a.account === ACCOUNT) : null;
    if (!mine) return;
    if (!this.account) this.account = mine;
    this.root.hidden = false;
    this.dirty = true;
    this.onDirty?.();
    this.fetchSide();
  }

  reset() {
    this.dirty = true;
  }

  setPaper(msg) {
    if (msg.account !== ACCOUNT) return;
    this.account = msg;
    this.root.hidden = false;
    for (const f of msg.fills || []) this.fills.unshift(f);
    this.fills.length = Math.min(this.fills.length, FILLS_SHOWN);
    this.equity.push([performance.now(), msg.equity_mid]);
    if (this.equity.length > EQUITY_POINTS) this.equity.shift();
    this.dirty = true;
    this.onDirty?.();
    this.fetchBook();
    this.fetchSide();
  }

  ticket() {
    const v = (id) => this.q(id).value.trim();
    return {
      ticker: v("desk-ticker").toUpperCase(),
      side: v("desk-side"),
      action: v("desk-action"),
      count: v("desk-count"),
      limit_price: v("desk-price"),
      time_in_force: v("desk-tif"),
    };
  }

  async place() {
    const t = this.ticket();
    const r = await api("/api/paper/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(t),
    });
    this.message = r.ok
      ? `order ${r.body.order.order_id} sent`
      : `refused: ${r.body?.error ?? r.status}${r.body?.param ? ` (${r.body.param})` : ""}`;
    this.q("desk-message").dataset.ok = String(r.ok);
    this.dirty = true;
    this.onDirty?.();
    this.fetchBook();
  }

  async cancel(id) {
    const r = await api(`/api/paper/orders/${encodeURIComponent(id)}`, { method: "DELETE" });
    this.message = r.ok ? `cancel of ${id} sent` : `cancel refused: ${r.body?.error ?? r.status}`;
    this.dirty = true;
    this.onDirty?.();
  }

  async control(what) {
    const r = await api(`/api/paper/${what}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ account: ACCOUNT }),
    });
    this.message = r.ok ? `${what}: done` : `${what} refused: ${r.body?.error ?? r.status}`;
    this.dirty = true;
    this.onDirty?.();
    this.fetchSide();
  }

  async fetchBook() {
    const ticker = this.q("desk-ticker").value.trim().toUpperCase();
    if (!ticker) return;
    const r = await api(`/api/markets/${encodeURIComponent(ticker)}/book`);
    this.book = r.ok ? r.body : { ticker, missing: true };
    this.dirty = true;
    this.onDirty?.();
  }

  fetchSide() {
    // metrics and risk events change with orders and fills: fetched, at most once a second
    if (this.fetchTimer) return;
    const wait = Math.max(0, this.lastFetch + FETCH_GAP_MS - performance.now());
    this.fetchTimer = setTimeout(async () => {
      this.fetchTimer = 0;
      this.lastFetch = performance.now();
      const [m, r] = await Promise.all([api("/api/paper/metrics"), api("/api/paper/risk-events?limit=10")]);
      if (m.ok) this.metrics = m.body.accounts?.[ACCOUNT] ?? null;
      if (r.ok) this.risk = r.body.events;
      this.dirty = true;
      this.onDirty?.();
    }, wait);
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const a = this.account;
    const msg = this.q("desk-message");
    msg.textContent = this.message;
    const summary = this.q("desk-summary");
    summary.replaceChildren();
    if (a) {
      summary.dataset.cash = String(a.cash);
      summary.dataset.killed = String(Boolean(a.killed));
      for (const [k, v] of [
        ["Cash", fmt.money(a.cash)],
        ["Equity (mid)", fmt.money(a.equity_mid)],
        ["Equity (bid)", fmt.money(a.equity_exit)],
        ["Realised", fmt.money(a.realised)],
        ["Fees", fmt.money(a.fees)],
        ["State", a.killed ? "killed" : "trading"],
      ]) {
        const d = el("div");
        d.append(el("dt", {}, k), el("dd", {}, v));
        summary.append(d);
      }
    }
    this.renderBook();
    this.renderPositions(a ? a.positions : []);
    this.renderOrders(a ? a.orders : []);
    this.renderFills();
    this.renderMetrics();
    this.renderRisk();
    this.renderEquity();
  }

  renderBook() {
    const box = this.q("desk-book");
    box.replaceChildren();
    const b = this.book;
    if (!b) return;
    if (b.missing) {
      box.append(el("p", { className: "note" }, `${b.ticker}: no book followed yet (an order follows it)`));
      return;
    }
    box.dataset.stale = String(b.stale);
    const table = el("table");
    table.append(cells(el("tr"), ["YES bid", "size", "NO bid", "size"]));
    for (let i = 0; i < BOOK_LEVELS; i++) {
      const y = b.yes[i];
      const n = b.no[i];
      if (!y && !n) break;
      table.append(cells(el("tr", { "data-testid": "desk-book-level" }), [
        y ? fmt.price(y[0]) : "", y ? fmt.count(y[1]) : "", n ? fmt.price(n[0]) : "", n ? fmt.count(n[1]) : "",
      ]));
    }
    box.append(el("p", { className: "note" }, `${b.ticker}${b.stale ? " (stale)" : ""}`), table);
  }

  renderPositions(positions) {
    const body = this.q("desk-positions");
    body.replaceChildren();
    for (const p of positions) {
      const row = el("tr", { "data-testid": "desk-position", "data-ticker": p.ticker, "data-net": String(p.net) });
      body.append(cells(row, [
        p.ticker, p.net >= 0 ? `YES ${fmt.count(p.net)}` : `NO ${fmt.count(-p.net)}`,
        fmt.money(p.cost), fmt.money(p.unrealised_mid), fmt.money(p.unrealised_exit), fmt.money(p.realised),
      ]));
    }
  }

  renderOrders(orders) {
    const body = this.q("desk-orders");
    body.replaceChildren();
    for (const o of orders) {
      const row = el("tr", { "data-testid": "desk-order", "data-order-id": String(o.order_id), "data-status": o.status });
      cells(row, [
        String(o.order_id), o.ticker, `${o.action} ${o.side}`, fmt.price(o.price),
        `${fmt.count(o.remaining)} / ${fmt.count(o.count)}`, o.status,
      ]);
      const td = el("td");
      td.append(el("button", { type: "button", "data-cancel": String(o.order_id), "data-testid": "desk-cancel" }, "Cancel"));
      row.append(td);
      body.append(row);
    }
  }

  renderFills() {
    const body = this.q("desk-fills");
    body.replaceChildren();
    for (const f of this.fills) {
      const row = el("tr", { "data-testid": "desk-fill", "data-ticker": f.ticker });
      body.append(cells(row, [
        fmt.clock(f.ts_ms), f.ticker, `${f.action} ${f.side}`, fmt.count(f.count),
        fmt.price(Math.round(f.cost / f.count)), fmt.money(f.fee), f.maker ? "maker" : "taker",
      ]));
    }
  }

  renderMetrics() {
    const box = this.q("desk-metrics");
    box.replaceChildren();
    const m = this.metrics;
    if (!m) return;
    const ratio = (x) => (x === null || x === undefined ? "–" : x.toFixed(2));
    for (const [k, v] of [
      ["Win rate", m.win_rate === null ? "–" : `${Math.round(m.win_rate * 100)}%`],
      ["Profit factor", ratio(m.profit_factor)],
      ["Sharpe (day)", ratio(m.sharpe_day)],
      ["Max drawdown", fmt.money(m.max_drawdown)],
      ["Fill ratio", m.fill_ratio === null ? "–" : `${Math.round(m.fill_ratio * 100)}%`],
      ["Brier", ratio(m.brier)],
    ]) {
      const d = el("div");
      d.append(el("dt", {}, k), el("dd", {}, v));
      box.append(d);
    }
  }

  renderRisk() {
    const list = this.q("desk-risk");
    list.replaceChildren();
    for (const e of this.risk) {
      const text = `${fmt.clock(e.ts_ms)} ${e.kind}${e.account ? ` ${e.account}` : ""}${e.reason ? `: ${e.reason}` : ""}`;
      list.append(el("li", { "data-testid": "desk-risk-event", "data-kind": e.kind }, text));
    }
  }

  renderEquity() {
    const canvas = this.q("desk-equity");
    const ctx = canvas.getContext("2d");
    const w = (canvas.width = canvas.clientWidth || 300);
    const h = (canvas.height = canvas.clientHeight || 60);
    ctx.clearRect(0, 0, w, h);
    canvas.dataset.points = String(this.equity.length);
    if (this.equity.length < 2) return;
    const ys = this.equity.map((p) => p[1]);
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    const span = hi - lo || 1;
    ctx.strokeStyle = "#4aa3ff";
    ctx.beginPath();
    this.equity.forEach(([, y], i) => {
      const x = (i / (this.equity.length - 1)) * (w - 2) + 1;
      const yy = h - 2 - ((y - lo) / span) * (h - 4);
      if (i === 0) ctx.moveTo(x, yy);
      else ctx.lineTo(x, yy);
    });
    ctx.stroke();
  }
}
