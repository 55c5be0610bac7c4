// Wires the page to /ws/stream: one socket, a snapshot then deltas, one switch on msg.type,
// capped-backoff reconnect that rebuilds from the next snapshot, one render per animation frame.
import { AnalyticsChart } from "./chart.js";
import { DeskPanel } from "./desk.js";
import * as fmt from "./format.js";
import { HotGrid } from "./grid.js";
import { NbaPanel } from "./nba.js";
import { StatusBar } from "./status.js";
import { EMPTY_FILTER, Tape } from "./tape.js";

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;
// At most one draw per this many ms, however often messages come: the server sends trades
// within a few ms on a quiet feed, and drawing each batch would only spend the browser's time.
const MIN_DRAW_MS = 50;

class Page {
  constructor() {
    this.status = new StatusBar(document.getElementById("status"));
    this.chart = new AnalyticsChart(document.getElementById("analytics"));
    this.grid = new HotGrid(document.getElementById("hot"));
    this.tape = new Tape(document.getElementById("tape-panel"));
    this.games = new NbaPanel(document.getElementById("nba"));
    this.desk = new DeskPanel(document.getElementById("desk"));
    this.parts = [this.status, this.chart, this.grid, this.tape, this.games, this.desk];
    this.chart.heavy = this.grid.heavy = this.games.heavy = true;
    this.frame = 0;
    this.drawTimer = 0;
    this.lastDraw = -Infinity;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.messages = 0;
    this.titles = new Map(); // ticker -> title: from the snapshot, then as messages announce them
    const schedule = () => this.schedule();
    for (const p of this.parts) p.onDirty = schedule;
    this.tape.onFilter = (f) => this.sendFilter(f);
    this.grid.onWindow = (w) => this.sendHotWindow(w);
  }

  schedule() {
    if (this.frame || this.drawTimer) return;
    const wait = this.lastDraw + MIN_DRAW_MS - performance.now();
    if (wait > 0) {
      this.drawTimer = setTimeout(() => {
        this.drawTimer = 0;
        this.schedule();
      }, wait);
      return;
    }
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.lastDraw = performance.now();
      const perf = window.flowboard?.perf;
      // the grid and the chart both change once a second: draw them in different frames
      let heavy = false;
      let again = false;
      for (const p of this.parts) {
        if (p.heavy && p.dirty) {
          if (heavy) {
            again = true;
            continue;
          }
          heavy = true;
        }
        const t0 = performance.now();
        p.render();
        if (perf) {
          const name = p.constructor.name;
          perf.renderMaxMs[name] = Math.max(perf.renderMaxMs[name] ?? 0, performance.now() - t0);
        }
      }
      if (again) this.schedule();
    });
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws/stream`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.status.setLink(this.attempt === 0 ? "connecting" : "reconnecting");
    this.schedule();
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.status.setLink("open");
      this.schedule();
      if (this.tape.filter !== EMPTY_FILTER) this.sendFilter(this.tape.filter);
      this.sendHotWindow(this.grid.window); // hot updates for the window on show only
    });
    ws.addEventListener("message", (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        console.error("unparseable message from /ws/stream", err, ev.data);
        return;
      }
      this.handle(msg);
      this.schedule();
    });
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry(ev.code);
    });
  }

  retry(code) {
    // capped exponential backoff with jitter; a snapshot received resets the attempt counter
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    this.status.setLink("reconnecting");
    document.body.dataset.reconnects = String(this.attempt);
    console.info("stream closed (code %s); reconnecting in %d ms", code, delay);
    this.schedule();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  sendFilter(f) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ type: "filter", ...f }));
  }

  sendHotWindow(w) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ type: "hot_window", window: w }));
  }

  handle(msg) {
    this.messages += 1;
    switch (msg.type) {
      case "snapshot":
        this.attempt = 0;
        this.status.setSource(msg.source);
        this.status.setStatus(msg.status);
        this.tape.setTiers(msg.large_trade_tiers);
        this.titles = new Map(Object.entries(msg.titles || {}));
        this.tape.reset(msg.trades || []);
        this.grid.reset();
        this.grid.setHot(msg.hot);
        this.chart.setViews(msg.analytics?.hour, msg.analytics?.day);
        this.games.reset();
        this.games.setGames(msg.games);
        document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
        document.body.dataset.serverMs = String(msg.server_ms);
        break;
      case "trades":
        this.tape.add(expandTrades(msg, this.titles));
        break;
      case "analytics":
        this.chart.setViews(msg.hour, msg.day);
        break;
      case "hot":
        this.grid.mergeHot(msg.hot);
        break;
      case "status":
        this.status.setStatus(msg.status);
        break;
      case "game":
        this.games.setGame(msg.game);
        break;
      case "odds":
        this.games.setOdds(msg);
        break;
      case "paper":
        this.desk.setPaper(msg);
        break;
      case "filter_ack":
        learnTitles(this.titles, msg.titles);
        document.body.dataset.filterAck = JSON.stringify(msg.filter);
        break;
      case "error":
        console.warn("server rejected a request:", msg.error);
        break;
      default:
        console.error("unknown /ws/stream message type %o", msg.type, msg);
    }
  }
}

/** Main-thread long tasks (> 50 ms) as the browser reports them, for benchmarks and the curious. */
function watchLongTasks() {
  const perf = { longTasks: 0, longTaskMs: 0, maxTaskMs: 0, renderMaxMs: {} };
  if (typeof PerformanceObserver === "function" && PerformanceObserver.supportedEntryTypes?.includes("longtask")) {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        perf.longTasks += 1;
        perf.longTaskMs += e.duration;
        perf.maxTaskMs = Math.max(perf.maxTaskMs, e.duration);
      }
    }).observe({ type: "longtask", buffered: true });
  }
  return perf;
}

const page = new Page();
window.flowboard = { page, fmt, perf: watchLongTasks() };
page.connect();

function learnTitles(titles, more) {
  if (more) for (const [ticker, title] of Object.entries(more)) titles.set(ticker, title);
}

// A `trades` message carries rows of `fields`, each ticker once in `markets` (rows refer to them
// by index), the `titles` the page may not have yet (kept in `titles` from the snapshot on) and
// times as ms after `t0`; the tape takes objects with the taker's price and the notional
// (integers: centicents, micro-dollars).
function expandTrades(msg, titles) {
  const f = msg.fields || [];
  const at = (name) => f.indexOf(name);
  const [id, market, yes, count, side, ts, recv, tier] = [
    "id", "market", "yes_price", "count", "side", "ts_off", "recv_off", "tier",
  ].map(at);
  const t0 = msg.t0 || 0;
  const markets = msg.markets || [];
  learnTitles(titles, msg.titles);
  const named = markets.map((ticker) => titles.get(ticker) ?? "");
  return (msg.rows || []).map((r) => {
    const ticker = markets[r[market]] ?? "";
    const title = named[r[market]] ?? "";
    const price = r[side] === "yes" ? r[yes] : 10000 - r[yes];
    return {
      id: r[id], ticker, title, yes_price: r[yes], count: r[count], side: r[side], price,
      notional: price * r[count], ts_ms: t0 + r[ts], recv_ms: t0 + r[recv], tier: r[tier],
    };
  });
}
