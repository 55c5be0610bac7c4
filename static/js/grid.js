// Hot-markets grid: one card per market in rank order for the chosen window, FLIP-animated
// re-ranking, and a detail panel fetched from the JSON API on click.
import { drawLine } from "./chart.js";
import * as fmt from "./format.js";

export const WINDOWS = ["1m", "5m", "15m", "1h", "24h"];
const MAX_CARDS = 24;
const MOVE_MS = 450;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** YES share of taker volume in whole percent (display only). */
function yesPercent(yes, no) {
  const total = yes + no;
  return total > 0 ? Math.round((yes * 100) / total) : 50;
}

export class HotGrid {
  constructor(root) {
    this.root = root;
    this.container = root.querySelector('[data-testid="hot-grid"]');
    this.buttons = new Map();
    for (const w of WINDOWS) {
      const btn = root.querySelector(`[data-testid="window-${w}"]`);
      this.buttons.set(w, btn);
      btn.addEventListener("click", () => this.setWindow(w));
    }
    this.window = "5m";
    this.hot = {};
    this.cards = new Map(); // ticker -> {el, parts, key, sparkKey}
    this.dirty = true;
    this.detail = new DetailPanel(document.getElementById("detail"));
    this.container.addEventListener("click", (ev) => {
      const card = ev.target.closest('[data-testid="hot-card"]');
      if (card) this.detail.open(card.dataset.ticker, this.window);
    });
    this.container.addEventListener("keydown", (ev) => {
      const card = ev.target.closest('[data-testid="hot-card"]');
      if (card && (ev.key === "Enter" || ev.key === " ")) {
        ev.preventDefault();
        this.detail.open(card.dataset.ticker, this.window);
      }
    });
    this.reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  setWindow(w) {
    if (!WINDOWS.includes(w)) return;
    this.window = w;
    this.dirty = true;
    this.onWindow?.(w);
    this.onDirty?.();
  }

  setHot(hot) {
    this.hot = hot || {};
    this.dirty = true;
  }

  // a `hot` message may carry only the window this page asked for
  mergeHot(hot) {
    this.hot = { ...this.hot, ...(hot || {}) };
    this.dirty = true;
  }

  reset() {
    this.cards.clear();
    this.container.replaceChildren();
    this.dirty = true;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    for (const [w, btn] of this.buttons) btn.setAttribute("aria-pressed", String(w === this.window));
    const list = (this.hot[this.window] || []).slice(0, MAX_CARDS);
    this.container.dataset.window = this.window;

    const animate = !this.reduceMotion && this.cards.size > 0;
    const first = new Map();
    if (animate) for (const [t, c] of this.cards) first.set(t, c.el.getBoundingClientRect());

    // writes: order and text
    const keep = new Set();
    list.forEach((card, i) => {
      keep.add(card.ticker);
      let c = this.cards.get(card.ticker);
      if (!c) {
        c = this.createCard(card.ticker);
        this.cards.set(card.ticker, c);
      }
      const at = this.container.children[i];
      if (at !== c.el) this.container.insertBefore(c.el, at ?? null);
      this.updateCard(c, card, i + 1);
    });
    for (const [t, c] of this.cards) {
      if (!keep.has(t)) {
        c.el.remove();
        this.cards.delete(t);
      }
    }
    this.container.dataset.count = String(list.length);

    // reads: one layout for every new position and the (shared) sparkline size
    const moves = [];
    if (animate) {
      for (const [t, c] of this.cards) {
        const was = first.get(t);
        if (!was) continue;
        const now = c.el.getBoundingClientRect();
        const dx = was.left - now.left;
        const dy = was.top - now.top;
        if (Math.abs(dx) >= 1 || Math.abs(dy) >= 1) moves.push([c.el, dx, dy]);
      }
    }
    const any = this.cards.values().next().value;
    const size = any ? { w: any.parts.spark.clientWidth, h: any.parts.spark.clientHeight } : null;

    // writes: sparklines, then the FLIP inversion played on the next frame
    for (const { c, spark } of list.map((card) => ({ c: this.cards.get(card.ticker), spark: card.spark || [] }))) {
      const key = `${spark.length}|${spark[0]}|${spark[spark.length - 1]}|${spark[spark.length >> 1]}|${size?.w}`;
      if (key !== c.sparkKey && size) {
        c.sparkKey = key;
        drawLine(c.parts.spark, spark, { size });
      }
    }
    if (moves.length === 0) return;
    for (const [e, dx, dy] of moves) {
      e.style.transition = "none";
      e.style.transform = `translate(${dx}px, ${dy}px)`;
    }
    requestAnimationFrame(() => {
      for (const [e] of moves) {
        e.style.transition = `transform ${MOVE_MS}ms cubic-bezier(.2,.7,.2,1)`;
        e.style.transform = "";
      }
    });
  }

  createCard(ticker) {
    const e = el("article", "card");
    e.dataset.testid = "hot-card";
    e.dataset.ticker = ticker;
    e.tabIndex = 0;
    const head = el("header", "card-head");
    const rank = el("span", "card-rank");
    const title = el("h3", "card-title");
    head.append(rank, title);
    const tick = el("div", "card-ticker", ticker);
    const row = el("div", "card-row");
    const last = el("span", "card-price");
    const vol = el("span", "card-vol");
    row.append(last, vol);
    const flow = el("div", "flow");
    const yes = el("span", "flow-yes");
    const no = el("span", "flow-no");
    flow.append(yes, no);
    const spark = el("canvas", "spark");
    e.append(head, tick, row, flow, spark);
    return { el: e, parts: { rank, title, last, vol, yes, no, flow, spark }, key: "", sparkKey: "" };
  }

  updateCard(c, card, rank) {
    const p = c.parts;
    const key = [rank, card.title, card.last_price, card.volume, card.notional, card.yes_volume, card.no_volume].join("|");
    if (key !== c.key) {
      c.key = key;
      p.rank.textContent = `#${rank}`;
      p.title.textContent = card.title || card.ticker;
      p.title.title = card.title || card.ticker;
      p.last.textContent = fmt.price(card.last_price);
      const move = card.last_price !== null && card.first_price !== null ? card.last_price - card.first_price : 0;
      p.last.dataset.move = move > 0 ? "up" : move < 0 ? "down" : "flat";
      p.vol.textContent = `${fmt.countShort(card.volume)} ct · ${fmt.moneyShort(card.notional)} · ${fmt.integer(card.trades)} tr`;
      const pct = yesPercent(card.yes_volume, card.no_volume);
      p.yes.style.width = `${pct}%`;
      p.no.style.width = `${100 - pct}%`;
      p.flow.title = `YES ${fmt.count(card.yes_volume)} (${fmt.money(card.yes_notional)}) · NO ${fmt.count(card.no_volume)} (${fmt.money(card.no_notional)})`;
    }
  }
}

class DetailPanel {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector(".detail-title");
    this.stats = root.querySelector(".detail-stats");
    this.canvas = root.querySelector(".detail-chart");
    this.list = root.querySelector(".detail-trades");
    this.ticker = null;
    this.abort = null;
    root.querySelector(".detail-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.close();
    });
  }

  close() {
    this.abort?.abort();
    this.ticker = null;
    this.root.hidden = true;
  }

  async open(ticker, window) {
    this.abort?.abort();
    const ctrl = new AbortController();
    this.abort = ctrl;
    this.ticker = ticker;
    this.root.hidden = false;
    this.root.dataset.ticker = ticker;
    this.root.dataset.state = "loading";
    this.title.textContent = ticker;
    this.stats.replaceChildren();
    this.list.replaceChildren();
    const enc = encodeURIComponent(ticker);
    try {
      const [info, trades] = await Promise.all([
        fetchJson(`/api/markets/${enc}`, ctrl.signal),
        fetchJson(`/api/markets/${enc}/trades?limit=50`, ctrl.signal),
      ]);
      if (this.ticker !== ticker) return;
      this.fill(info, trades.trades || [], window);
      this.root.dataset.state = "ready";
    } catch (err) {
      if (err.name === "AbortError") return;
      console.warn("market detail failed", ticker, err);
      this.root.dataset.state = "error";
      this.stats.replaceChildren(el("p", "muted", `Could not load ${ticker}: ${err.message}`));
    }
  }

  fill(info, trades, window) {
    const meta = info.info || {};
    this.title.textContent = meta.title || ticker(trades) || info.ticker;
    const w = (info.windows && (info.windows[window] || info.windows["24h"])) || null;
    const rows = [
      ["Ticker", info.ticker],
      ["Series", meta.series_ticker ?? "–"],
      ["Status", meta.status ?? "–"],
    ];
    if (w) {
      rows.push(
        [`Volume (${w.window})`, `${fmt.count(w.volume)} ct`],
        ["Notional", fmt.money(w.notional)],
        ["Trades", fmt.integer(w.trades)],
        ["VWAP", fmt.price(w.vwap)],
        ["Last", fmt.price(w.last_price)],
        ["YES / NO", `${fmt.count(w.yes_volume)} / ${fmt.count(w.no_volume)}`],
      );
    }
    if (meta.close_ts_ms) rows.push(["Closes", new Date(meta.close_ts_ms).toLocaleString()]);
    const dl = document.createDocumentFragment();
    for (const [k, v] of rows) dl.append(el("dt", "", k), el("dd", "", String(v)));
    this.stats.replaceChildren(dl);
    // price chart: YES price of the recent trades, oldest first
    const prices = trades.map((t) => t.yes_price).reverse();
    drawLine(this.canvas, prices.length ? prices : info.spark || [], { axis: true, pad: 14, width: 2 });
    const frag = document.createDocumentFragment();
    for (const t of trades) {
      const li = el("li", `side-${t.side}`);
      li.append(
        el("span", "t-time", fmt.clock(t.ts_ms)),
        el("span", "t-side", t.side.toUpperCase()),
        el("span", "t-size", fmt.count(t.count)),
        el("span", "t-price", fmt.price(t.price)),
        el("span", "t-notional", fmt.money(t.notional)),
      );
      frag.append(li);
    }
    this.list.replaceChildren(frag);
  }
}

function ticker(trades) {
  return trades.length ? trades[0].title : null;
}

async function fetchJson(url, signal) {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  return res.json();
}
