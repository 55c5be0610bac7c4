// NBA panel: today's games (score, clock, live/final badge), per game a small chart of the home
// team's win probability over time (Kalshi price, sportsbook consensus, model fair value), and the
// matched Kalshi markets and sportsbook quotes on expand. All numbers arrive as integers
// (probabilities in ppm, prices in centicents, points in tenths) and are shown through format.js.
import { drawProbability, SERIES } from "./chart.js";
import * as fmt from "./format.js";

const MAX_POINTS = 720;
export { SERIES };
const EXCHANGES = new Set(["kalshi", "polymarket"]); // balldontlie lists them beside the books
const LIVE = new Set(["live", "halftime", "in_progress"]);
const KIND_ORDER = { game: 0, spread: 1, total: 2 };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function gameId(g) {
  return String(g.id ?? g.game_id);
}

/** "Q3 5:12" from period and seconds left, for views without a server-made clock string. */
function clockText(g) {
  if (g.clock) return g.clock;
  if (g.status === "final") return "Final";
  const secs = Number.isInteger(g.seconds_left) ? g.seconds_left : null;
  const time = secs === null ? "" : `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")}`;
  const period = g.period ? (g.period > 4 ? `OT${g.period - 4}` : `Q${g.period}`) : "";
  return [period, time].filter(Boolean).join(" ");
}

function badge(status) {
  if (status === "final") return "Final";
  if (status === "halftime") return "Half";
  if (LIVE.has(status)) return "Live";
  return "Pre";
}

function marketLabel(m, g) {
  if (m.kind === "game") return `${m.yes_team ?? "?"} win`;
  if (m.kind === "spread") return `${m.yes_team ?? "?"} by > ${fmt.points(m.strike_tenths)}`;
  if (m.kind === "total") return `Total > ${fmt.points(m.strike_tenths)}`;
  return m.kind ?? "";
}

function marketSort(a, b) {
  return (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || (a.strike_tenths ?? 0) - (b.strike_tenths ?? 0) || (a.ticker < b.ticker ? -1 : 1);
}

/** Halves a full history in place, keeping the first and the newest point, so that the chart
 * still spans the whole game (the server thins its copy the same way). */
function thin(h) {
  const last = h[h.length - 1];
  let n = 0;
  for (let i = 0; i < h.length - 1; i += 2) h[n++] = h[i];
  h[n++] = last;
  h.length = n;
}

export class NbaPanel {
  constructor(root) {
    this.root = root;
    this.list = root.querySelector("#nba-games");
    this.note = root.querySelector("#nba-note");
    this.games = new Map(); // id -> record
    this.pendingOdds = new Map(); // id -> odds message for a game not seen yet
    this.dirty = true;
    this.listDirty = true;
    this.visible = new Set(); // ids whose card is on screen: only those charts are drawn
    this.sizes = new ResizeObserver((entries) => {
      for (const e of entries) {
        const r = this.games.get(e.target.dataset.gameId);
        if (!r) continue;
        r.size = { w: e.contentRect.width, h: e.contentRect.height };
        r.chartDirty = true;
        this.dirty = true;
      }
      this.onDirty?.();
    });
    this.seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const id = e.target.dataset.gameId;
        if (e.isIntersecting) this.visible.add(id);
        else this.visible.delete(id);
        const r = this.games.get(id);
        if (r && e.isIntersecting && r.chartDirty) this.dirty = true;
      }
      this.onDirty?.();
    });
    this.list.addEventListener("click", (ev) => {
      const btn = ev.target.closest('[data-testid="game-toggle"]');
      if (btn) this.toggle(btn.closest(".game").dataset.gameId);
    });
  }

  reset() {
    for (const r of this.games.values()) this.forget(r);
    this.games.clear();
    this.pendingOdds.clear();
    this.list.replaceChildren();
    this.listDirty = true;
    this.dirty = true;
  }

  /** The snapshot's games, each with its full history. */
  setGames(games) {
    for (const g of games || []) this.setGame(g);
  }

  /** A GameView: replaces the game's fields and appends its (new) history points. */
  setGame(g) {
    const id = gameId(g);
    let r = this.games.get(id);
    if (!r) {
      r = this.create(id);
      this.games.set(id, r);
      this.listDirty = true;
    }
    const { history, ...view } = g;
    if (r.view && view.consensus === undefined) view.consensus = r.view.consensus;
    r.view = view;
    const odds = this.pendingOdds.get(id);
    if (odds) {
      this.pendingOdds.delete(id);
      this.applyOdds(r, odds);
    }
    if (history && history.length) this.append(r, history);
    r.textDirty = true;
    this.dirty = true;
  }

  setOdds(msg) {
    const id = msg.game_id === undefined ? undefined : String(msg.game_id);
    if (id === undefined) return;
    const r = this.games.get(id);
    if (!r) {
      this.pendingOdds.set(id, msg);
      return;
    }
    this.applyOdds(r, msg);
    r.textDirty = true;
    this.dirty = true;
  }

  applyOdds(r, msg) {
    if (Array.isArray(msg.quotes)) r.quotes = msg.quotes;
    if (msg.consensus) r.view = { ...r.view, consensus: msg.consensus };
  }

  append(r, points) {
    const h = r.history;
    for (const p of points) {
      if (!Array.isArray(p) || p.length < 4) continue;
      const last = h[h.length - 1];
      if (last && p[0] < last[0]) continue; // a point older than what we have: already drawn
      if (last && p[0] === last[0]) h[h.length - 1] = p;
      else h.push(p);
      if (h.length > MAX_POINTS) thin(h);
    }
    r.chartDirty = true;
  }

  toggle(id) {
    const r = this.games.get(id);
    if (!r) return;
    r.expanded = !r.expanded;
    r.textDirty = true;
    this.dirty = true;
    this.onDirty?.();
  }

  create(id) {
    const li = el("li", "game");
    li.dataset.testid = "game";
    li.dataset.gameId = id;
    const head = el("button", "g-head");
    head.type = "button";
    head.dataset.testid = "game-toggle";
    head.setAttribute("aria-expanded", "false");
    const teams = el("span", "g-teams");
    const score = el("span", "g-score");
    const clock = el("span", "g-clock");
    const status = el("span", "g-status");
    head.append(teams, score, clock, status);
    const keys = el("div", "g-keys");
    const values = {};
    for (const s of SERIES) {
      const k = el("span", `g-key key-${s.key}`);
      k.dataset.series = s.key;
      values[s.key] = k;
      keys.append(k);
    }
    const lines = el("span", "g-lines");
    keys.append(lines);
    const canvas = el("canvas", "g-chart");
    canvas.dataset.testid = "game-chart";
    canvas.dataset.gameId = id;
    canvas.dataset.points = "0";
    canvas.dataset.drawn = "0";
    canvas.setAttribute("aria-label", "Home win probability: Kalshi, sportsbook consensus, model");
    const more = el("div", "g-more");
    more.hidden = true;
    li.append(head, keys, canvas, more);
    this.sizes.observe(canvas);
    this.seen.observe(li);
    li.dataset.gameId = id;
    return {
      id,
      el: li,
      parts: { head, teams, score, clock, status, values, lines, canvas, more },
      view: null,
      history: [],
      quotes: [],
      size: null,
      expanded: false,
      textKey: "",
      moreKey: "",
      textDirty: true,
      chartDirty: true,
    };
  }

  forget(r) {
    this.sizes.unobserve(r.parts.canvas);
    this.seen.unobserve(r.el);
    this.visible.delete(r.id);
  }

  order() {
    return [...this.games.values()].sort((a, b) => {
      const sa = a.view?.start_ms ?? Infinity;
      const sb = b.view?.start_ms ?? Infinity;
      return sa - sb || Number(a.id) - Number(b.id);
    });
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    this.root.hidden = this.games.size === 0;
    if (this.listDirty) {
      this.listDirty = false;
      const frag = document.createDocumentFragment();
      for (const r of this.order()) frag.append(r.el);
      this.list.replaceChildren(frag);
    }
    this.renderNote();
    for (const r of this.games.values()) {
      if (r.textDirty) {
        r.textDirty = false;
        this.renderText(r);
      }
      if (r.chartDirty) this.renderChart(r);
    }
  }

  renderNote() {
    const any = this.games.values().next().value;
    let live = 0;
    for (const r of this.games.values()) if (LIVE.has(r.view?.status)) live += 1;
    const text = any ? `${any.view?.date ?? ""} · ${this.games.size} games${live ? ` · ${live} live` : ""}` : "";
    if (this.note && this.note.textContent !== text) this.note.textContent = text;
  }

  renderText(r) {
    const g = r.view;
    const p = r.parts;
    const c = g.consensus || {};
    const k = g.kalshi || {};
    const f = g.fair || {};
    const key = [g.away, g.home, g.away_score, g.home_score, g.status, clockText(g), k.home_win_ppm, c.home_win_ppm,
      f.home_win_ppm, c.spread_tenths, c.total_tenths, c.books].join("|");
    if (key !== r.textKey) {
      r.textKey = key;
      p.teams.textContent = `${g.away} @ ${g.home}`;
      p.score.textContent = `${g.away_score ?? 0} – ${g.home_score ?? 0}`;
      p.clock.textContent = g.status === "final" ? "" : clockText(g); // the badge says Final
      p.status.textContent = badge(g.status);
      p.status.dataset.status = g.status ?? "";
      r.el.dataset.status = g.status ?? "";
      r.el.dataset.awayScore = String(g.away_score ?? 0);
      r.el.dataset.homeScore = String(g.home_score ?? 0);
      r.el.dataset.home = g.home ?? "";
      r.el.dataset.away = g.away ?? "";
      const probs = { kalshi: k.home_win_ppm, consensus: c.home_win_ppm, fair: f.home_win_ppm };
      for (const s of SERIES) p.values[s.key].textContent = `${s.label} ${fmt.percentPpm(probs[s.key] ?? null)}`;
      const lines = [];
      if (c.spread_tenths !== null && c.spread_tenths !== undefined) lines.push(`${g.home} ${fmt.points(c.spread_tenths, true)}`);
      if (c.total_tenths !== null && c.total_tenths !== undefined) lines.push(`O/U ${fmt.points(c.total_tenths)}`);
      if (c.books) lines.push(`${c.books} book${c.books === 1 ? "" : "s"}`);
      p.lines.textContent = lines.join(" · ");
      const fresh = g.freshness_ms || {};
      p.head.title = `${g.home} win probability. Scores ${fresh.scores ?? "–"} ms old, odds ${fresh.odds ?? "–"} ms old`;
    }
    if (p.more.hidden === r.expanded) {
      p.head.setAttribute("aria-expanded", String(r.expanded));
      p.more.hidden = !r.expanded;
    }
    if (r.expanded) this.renderMore(r);
  }

  renderMore(r) {
    const g = r.view;
    const markets = [...(g.markets || [])].sort(marketSort);
    const key = JSON.stringify([markets, r.quotes]);
    if (key === r.moreKey) return;
    r.moreKey = key;
    const frag = document.createDocumentFragment();
    const table = el("table", "g-markets");
    const head = el("tr");
    for (const h of ["Market", "Last", "Bid / Ask", "Result"]) head.append(el("th", "", h));
    table.append(head);
    for (const m of markets) {
      const tr = el("tr");
      tr.dataset.testid = "game-market";
      tr.dataset.ticker = m.ticker;
      tr.dataset.kind = m.kind ?? "";
      tr.dataset.status = m.status ?? "";
      tr.dataset.result = m.result ?? "";
      const result = m.result ? m.result.toUpperCase() : m.status ?? "–";
      const res = el("td", m.result ? `g-result res-${m.result}` : "g-result", result);
      const name = el("td", "g-market", marketLabel(m, g));
      name.append(el("small", "g-ticker", m.ticker));
      tr.append(
        name,
        el("td", "num", fmt.price(m.last_cc)),
        el("td", "num", `${fmt.price(m.bid_cc)} / ${fmt.price(m.ask_cc)}`),
        res,
      );
      table.append(tr);
    }
    if (markets.length === 0) frag.append(el("p", "muted", "No matched Kalshi markets."));
    else frag.append(table);
    const books = r.quotes.filter((q) => q.market === "moneyline");
    if (books.length) {
      const t = el("table", "g-books");
      const hr = el("tr");
      for (const h of ["Book", g.away, g.home]) hr.append(el("th", "", h));
      t.append(hr);
      for (const q of books) {
        const exchange = EXCHANGES.has(q.vendor);
        const tr = el("tr", exchange ? "muted" : "");
        tr.dataset.testid = "game-quote";
        tr.dataset.vendor = q.vendor;
        if (exchange) tr.title = "a prediction market, not in the sportsbook consensus";
        tr.append(el("td", "", exchange ? `${q.vendor} *` : q.vendor), el("td", "num", fmt.american(q.away_odds)), el("td", "num", fmt.american(q.home_odds)));
        t.append(tr);
      }
      frag.append(t);
    }
    r.parts.more.replaceChildren(frag);
  }

  renderChart(r) {
    const canvas = r.parts.canvas;
    const h = r.history;
    const last = h.length ? JSON.stringify(h[h.length - 1]) : "";
    if (canvas.dataset.last !== last || canvas.dataset.points !== String(h.length)) {
      canvas.dataset.points = String(h.length);
      canvas.dataset.last = last;
    }
    if (!r.size || !this.visible.has(r.id)) return; // drawn once it is laid out and on screen
    r.chartDirty = false;
    drawProbability(canvas, h, r.size);
    canvas.dataset.drawn = String(h.length);
  }
}
